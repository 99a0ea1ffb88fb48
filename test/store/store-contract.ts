import { afterEach, describe } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import type { ContractHarness, StoreContractTarget } from './contract-harness.js';
import { endpointContract } from './endpoint-contract.js';
import { registryContract } from './registry-contract.js';
import { securityContract } from './security-contract.js';
import { usageContract } from './usage-contract.js';

export type { StoreContractTarget } from './contract-harness.js';

/** The one Store contract, run unchanged against every database. */
export function describeStoreContract(name: string, target: StoreContractTarget): void {
  describe(`Store contract: ${name}`, () => {
    const opened: Store[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });
    const harness: ContractHarness = {
      target,
      async open(url, options) {
        const store = await openStore(url ?? (await target.freshUrl()), options);
        opened.push(store);
        return store;
      },
      async openFresh() {
        const url = await target.freshUrl();
        return { store: await harness.open(url), url };
      },
    };
    registryContract(harness);
    securityContract(harness);
    usageContract(harness);
    endpointContract(harness);
  });
}

import { assertUniqueIds, findById } from '../lookup/find-by-id.js';
import { accelerators } from './accelerators.js';
import { domesticAccelerators } from './domestic-accelerators.js';
import { hardwareSpecSchema, type HardwareSpec } from './hardware-spec.js';
import { hosts } from './hosts.js';

/** Every built-in device, validated once and frozen. */
export const hardwareCatalog: readonly HardwareSpec[] = Object.freeze(
  [...accelerators, ...domesticAccelerators, ...hosts].map((hardware) =>
    Object.freeze(hardwareSpecSchema.parse(hardware)),
  ),
);
assertUniqueIds(hardwareCatalog, 'hardware');

/** The built-in device with this id; an unknown id throws an error that lists the valid ids. */
export function findHardware(id: string): HardwareSpec {
  return findById(hardwareCatalog, id, 'hardware');
}

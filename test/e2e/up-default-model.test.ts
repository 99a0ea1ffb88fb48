import { readFile } from 'node:fs/promises';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelPath as defaultPath, type FakeHub, startFakeHub } from '../helpers/fake-hub.js';
import { makeTestModel, type TestModel } from '../helpers/models.js';
import { startEdgeFleet } from '../helpers/edgefleet-process.js';

/**
 * `edgefleet up` with no --model: the default DeepSeek model comes from the cache, else a download
 * (here from a local server standing in for Hugging Face via HF_ENDPOINT), else a generated demo model.
 */
describe('edgefleet up: the default model', () => {
  let model: TestModel;
  let hub: FakeHub;
  let hubUrl: string;
  let requests: string[];

  beforeAll(async () => {
    model = await makeTestModel({ think: true });
    hub = await startFakeHub(await readFile(model.path));
    hubUrl = hub.url;
    requests = hub.requests;
  });

  afterAll(() => hub?.close());

  it('downloads the default DeepSeek model, caches it, and serves it under its id', async () => {
    const first = await startEdgeFleet(['--context', '512'], { env: { HF_ENDPOINT: hubUrl } });
    try {
      expect(requests).toEqual([defaultPath]);
      const client = new OpenAI({ baseURL: `${first.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
      const models = await client.models.list();
      expect(models.data[0]?.id).toBe('deepseek-r1-distill-qwen-1.5b');
      expect((models.data[0] as unknown as { meta: { demo: boolean } }).meta.demo).toBe(false);
      const reply = await client.chat.completions.create({
        model: 'deepseek-r1-distill-qwen-1.5b',
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0,
      });
      expect(reply.choices[0]?.message.content).toBe(model.expectedContent);
    } finally {
      await first.stop();
    }
    // A second start uses the cache: no new request reaches the hub.
    const second = await startEdgeFleet(['--home', first.home, '--context', '512'], {
      env: { HF_ENDPOINT: hubUrl },
    });
    await second.stop();
    expect(requests).toHaveLength(1);
  });

  it('falls back to a generated demo model when the download is impossible, and says so', async () => {
    const server = await startEdgeFleet(['--context', '512'], { env: { HF_ENDPOINT: 'http://127.0.0.1:9' } });
    try {
      const { data } = (await (await fetch(`${server.baseUrl}/v1/models`)).json()) as {
        data: Array<{ id: string; meta: { demo: boolean; note: string } }>;
      };
      expect(data[0]?.id).toBe('edgefleet-demo');
      expect(data[0]?.meta.demo).toBe(true);
      expect(data[0]?.meta.note).toMatch(/could not be downloaded/);
      expect(server.stdout()).toMatch(/DEMO model/);
      expect(server.stderr()).toMatch(/generated DEMO model/);
    } finally {
      await server.stop();
    }
  });

  it('does not try to download in offline mode', async () => {
    const before = requests.length;
    const server = await startEdgeFleet(['--context', '512', '--offline'], { env: { HF_ENDPOINT: hubUrl } });
    try {
      const { data } = (await (await fetch(`${server.baseUrl}/v1/models`)).json()) as {
        data: Array<{ id: string }>;
      };
      expect(data[0]?.id).toBe('edgefleet-demo');
      expect(requests.length).toBe(before);
    } finally {
      await server.stop();
    }
  });
});

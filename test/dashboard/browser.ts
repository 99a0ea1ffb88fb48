import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserServer } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); .ci/run installs it when missing. */
export const chromiumPath = process.env.EDGEFLEET_CHROMIUM ?? '/usr/bin/chromium';

export interface RunningBrowser {
  browser: Browser;
  pid: number | undefined;
  close(): Promise<void>;
}

/**
 * Starts headless Chromium as a child process (its PID is known, so it is always stopped) and connects
 * Playwright to it. No background networking: the only requests are the ones pages make. `extraArgs`
 * go on its command line (e.g. `--host-resolver-rules=MAP name 127.0.0.1`).
 */
export async function startChromium(extraArgs: readonly string[] = []): Promise<RunningBrowser> {
  if (!existsSync(chromiumPath))
    throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium`);
  const server: BrowserServer = await chromium.launchServer({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', ...extraArgs],
    host: '127.0.0.1',
  });
  const pid = server.process().pid;
  const browser = await chromium.connect(server.wsEndpoint());
  return {
    browser,
    pid,
    close: async () => {
      await browser.close().catch(() => undefined);
      await server.close().catch(() => undefined);
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}

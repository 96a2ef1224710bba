import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Debian's chromium package (dev/lib/browser.sh installs it for `make test`); never a downloaded build. */
export const CHROMIUM = '/usr/bin/chromium';

export type HeadlessChromium = {
  pid: number;
  /** The DevTools endpoint (loopback) for playwright-core's connectOverCDP. */
  wsEndpoint: string;
  /** SIGTERM, then SIGKILL to its process group if it is still there after 5 s; removes the profile. */
  stop(): Promise<void>;
};

/** Flags that keep Chromium from reaching out on its own (this machine's network is closed). */
export const CHROMIUM_QUIET_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts headless Chromium with an empty profile under .local/ and DevTools on a free loopback port.
 * Nothing in the browser reaches out on its own (no updates, sync, background networking or QUIC).
 */
export async function launchChromium(timeoutMs = 30_000): Promise<HeadlessChromium> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: dev/lib/browser.sh installs Debian's chromium`);
  mkdirSync('.local/chromium', { recursive: true });
  const userDataDir = mkdtempSync(join(process.cwd(), '.local/chromium/profile-'));
  const child = spawn(
    CHROMIUM,
    [
      '--headless',
      ...CHROMIUM_QUIET_FLAGS,
      `--user-data-dir=${userDataDir}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      '--window-size=1280,900',
      'about:blank',
    ],
    // Its own process group, so a stuck browser's helpers can be killed with it.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('chromium did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    await terminate(child, pid, exited);
    rmSync(userDataDir, { recursive: true, force: true });
  };
  try {
    const wsEndpoint = await devToolsEndpoint(child, timeoutMs);
    return { pid, wsEndpoint, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function devToolsEndpoint(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(
      () => reject(new Error(`chromium gave no DevTools endpoint in ${timeoutMs} ms:\n${err}`)),
      timeoutMs,
    );
    child.stderr?.on('data', (d) => {
      err += String(d);
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code}) before DevTools listened:\n${err}`));
    });
  });
}

async function terminate(child: ChildProcess, pid: number, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    process.kill(pid, 'SIGTERM');
    const gone = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!gone) signalGroup(pid, 'SIGKILL');
    await Promise.race([exited, sleep(5000)]);
  }
  // Helpers (renderer, zygote) that outlived the browser process.
  signalGroup(pid, 'SIGKILL');
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

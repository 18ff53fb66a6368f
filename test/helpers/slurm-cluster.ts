/**
 * A throw-away single-node Slurm cluster for tests: munged with its own key and socket, a minimal
 * slurm.conf, slurmctld and slurmd, all under one temp directory and on free ports, so it touches
 * neither /etc/slurm nor /run/munge nor a cluster that is already running. Needs root and the Debian
 * packages `slurm-wlm` and `munge` (docs/slurm.md, "A single-node Slurm on this machine").
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SlurmCluster {
  /** Temp directory holding the key, config, state, spool and daemon logs. */
  dir: string;
  /** Path of slurm.conf. */
  conf: string;
  /** process.env plus SLURM_CONF: pass to sbatch / squeue / the CLI. */
  env: NodeJS.ProcessEnv;
  /** Daemon logs (slurmctld, slurmd, munged), for failure messages. */
  logs(): string;
  /** Shuts the daemons down and removes the directory; safe to call twice. */
  stop(): void;
}

const TOOLS = ['sbatch', 'squeue', 'sinfo', 'scontrol', 'slurmctld', 'slurmd', 'munged', 'mungekey'];

function which(cmd: string): string | undefined {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return undefined;
}

/** Absolute path of a Slurm / munge program (the daemons live in /usr/sbin, often not on a user's PATH). */
function tool(cmd: string): string {
  const path = which(cmd);
  if (!path) throw new Error(`${cmd} not found: install with \`apt-get install -y slurm-wlm munge\``);
  return path;
}

/** Why a local cluster cannot start here, or undefined when it can. */
export function slurmUnavailable(): string | undefined {
  const missing = TOOLS.filter((t) => !which(t));
  if (missing.length) return `${missing.join(', ')} not found: install with \`apt-get install -y slurm-wlm munge\` (.ci/run does)`;
  if (process.getuid?.() !== 0) return 'a local test cluster needs root (SlurmUser=root); run the tests as root';
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const n = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Running (a zombie awaiting its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Starts munged, slurmctld and slurmd and waits until `sinfo` shows the node idle (throws after `timeoutMs`). */
export async function startSlurmCluster(o: { timeoutMs?: number } = {}): Promise<SlurmCluster> {
  const why = slurmUnavailable();
  if (why) throw new Error(why);
  const dir = mkdtempSync(join(tmpdir(), 'bayesprune-slurm-'));
  chmodSync(dir, 0o755); // munged wants the socket's directories searchable by all
  for (const d of ['munge', 'state', 'spool', 'log']) mkdirSync(join(dir, d));
  const host = hostname().split('.')[0]!; // what slurmd calls itself (hostname -s)
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const socket = join(dir, 'munge', 'munge.socket');
  const conf = join(dir, 'slurm.conf');
  const env = { ...process.env, SLURM_CONF: conf };
  const pids = { munged: join(dir, 'munge', 'munged.pid'), ctld: join(dir, 'slurmctld.pid'), d: join(dir, 'slurmd.pid') };
  let stopped = false;
  const logs = () =>
    ['log/slurmctld.log', 'log/slurmd.log', 'munge/munged.log']
      .filter((f) => existsSync(join(dir, f)))
      .map((f) => `--- ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-30).join('\n')}`)
      .join('\n');
  const stop = () => {
    if (stopped) return;
    stopped = true;
    spawnSync(tool('scontrol'), ['shutdown'], { env, stdio: 'ignore', timeout: 10_000 });
    const deadline = Date.now() + 10_000;
    for (const f of [pids.ctld, pids.d]) {
      const pid = readPid(f);
      if (pid === undefined) continue;
      while (alive(pid) && Date.now() < deadline) spawnSync('sleep', ['0.2']);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    const mpid = readPid(pids.munged);
    if (mpid !== undefined && alive(mpid)) {
      process.kill(mpid, 'SIGTERM');
      const until = Date.now() + 5_000; // munged writes its seed file on the way out
      while (alive(mpid) && Date.now() < until) spawnSync('sleep', ['0.1']);
      if (alive(mpid)) process.kill(mpid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  };
  try {
    const key = join(dir, 'munge', 'munge.key');
    execFileSync(tool('mungekey'), ['--create', `--keyfile=${key}`], { stdio: 'ignore' });
    chmodSync(key, 0o600);
    execFileSync(
      tool('munged'),
      [
        '--force',
        `--key-file=${key}`,
        `--socket=${socket}`,
        `--pid-file=${pids.munged}`,
        `--log-file=${join(dir, 'munge', 'munged.log')}`,
        `--seed-file=${join(dir, 'munge', 'munged.seed')}`,
      ],
      { stdio: 'ignore' },
    );
    writeFileSync(
      conf,
      [
        'ClusterName=bayesprune-test',
        `SlurmctldHost=${host}(127.0.0.1)`,
        'AuthType=auth/munge',
        'CredType=cred/munge',
        `AuthInfo=socket=${socket}`,
        'SlurmUser=root',
        'SlurmdUser=root',
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${dPort}`,
        `StateSaveLocation=${join(dir, 'state')}`,
        `SlurmdSpoolDir=${join(dir, 'spool')}`,
        `SlurmctldPidFile=${pids.ctld}`,
        `SlurmdPidFile=${pids.d}`,
        `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
        `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'JobCompType=jobcomp/none',
        'MpiDefault=none',
        'ReturnToService=2',
        `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus().length} RealMemory=1000 State=UNKNOWN`,
        'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
        '',
      ].join('\n'),
    );
    execFileSync(tool('slurmctld'), ['-f', conf], { env, stdio: 'ignore' });
    execFileSync(tool('slurmd'), ['-f', conf], { env, stdio: 'ignore' });
    const deadline = Date.now() + (o.timeoutMs ?? 60_000);
    for (;;) {
      const r = spawnSync(tool('sinfo'), ['-h', '-N', '-o', '%T'], { env, encoding: 'utf8', timeout: 10_000 });
      if (r.status === 0 && r.stdout.trim() === 'idle') break;
      if (Date.now() > deadline) throw new Error(`the local Slurm node did not become idle (sinfo: "${(r.stdout + r.stderr).trim()}")\n${logs()}`);
      await sleep(500);
    }
  } catch (e) {
    const l = logs();
    stop();
    throw new Error(`${(e as Error).message}${l && !(e as Error).message.includes(l) ? `\n${l}` : ''}`);
  }
  return { dir, conf, env, logs, stop };
}

/** Waits until none of `jobIds` is pending or running (squeue lists none of them); throws after `timeoutMs`. */
export async function waitForJobs(cluster: SlurmCluster, jobIds: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = spawnSync(tool('squeue'), ['-h', '-j', jobIds.join(','), '-o', '%i %T'], { env: cluster.env, encoding: 'utf8', timeout: 10_000 });
    // squeue exits non-zero with "Invalid job id specified" once every job has left the queue.
    if ((r.status === 0 && r.stdout.trim() === '') || /Invalid job id/.test(r.stderr)) return;
    if (Date.now() > deadline) throw new Error(`Slurm jobs ${jobIds.join(', ')} still queued after ${timeoutMs / 1000} s:\n${r.stdout}\n${cluster.logs()}`);
    await sleep(1000);
  }
}

/** `scontrol show job` fields (JobState, ExitCode) of every job (array tasks included) while slurmctld still remembers them. */
export function jobStates(cluster: SlurmCluster, jobId: string): { id: string; task?: string; state: string; exit: string }[] {
  const r = spawnSync(tool('scontrol'), ['show', 'job', '-o', jobId], { env: cluster.env, encoding: 'utf8', timeout: 10_000 });
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => ({
      id: /JobId=(\S+)/.exec(l)?.[1] ?? '?',
      task: /ArrayTaskId=(\S+)/.exec(l)?.[1],
      state: /JobState=(\S+)/.exec(l)?.[1] ?? '?',
      exit: /ExitCode=(\S+)/.exec(l)?.[1] ?? '?',
    }));
}

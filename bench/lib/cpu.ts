/**
 * CPU time spent per process during a phase, read from /proc: the load
 * generator (this process), the control plane (a child) and the Postgres
 * backends serving the benchmark's database. On a noisy 2-core machine, CPU
 * milliseconds per enrollment is steadier than wall time and says where the
 * time goes.
 */
import { readFileSync } from 'node:fs';

const TICK_MS = 10; // CLK_TCK is 100 on Linux x86-64

/** utime + stime of a process in ms, or null when it is gone / unreadable. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) * TICK_MS;
  } catch {
    return null;
  }
}

/**
 * CPU ms (user + system) of this process's children that have ended and been
 * reaped (cutime + cstime of /proc/self/stat): the only way to charge a
 * short-lived client (curl, outline-fetch) whose /proc entry is gone when the
 * transfer ends. Node reaps its children as they exit.
 */
export function reapedChildrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) * TICK_MS;
}

/** Resident set size (VmRSS) and its high-water mark (VmHWM) of a process, in MB. */
export function processMemMB(pid: number): { rssMB: number; hwmMB: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rssMB: Math.round((kb('VmRSS') / 1024) * 10) / 10, hwmMB: Math.round((kb('VmHWM') / 1024) * 10) / 10 };
  } catch {
    return null;
  }
}

/**
 * Whole-machine busy and total jiffies (all cores) from /proc/stat, and the
 * part of busy spent in interrupt and softirq context (the kernel's network
 * receive path runs there, charged to no process).
 */
export function systemTicks(): { busy: number; total: number; irq: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total, irq: (v[5] ?? 0) + (v[6] ?? 0) };
}

export interface CpuSnapshot {
  at: number;
  self: number;
  procs: Map<number, number>;
  system: { busy: number; total: number; irq: number };
}

export function snapshot(pids: number[]): CpuSnapshot {
  const procs = new Map<number, number>();
  for (const pid of pids) {
    const ms = processCpuMs(pid);
    if (ms !== null) procs.set(pid, ms);
  }
  const u = process.cpuUsage();
  return { at: performance.now(), self: (u.user + u.system) / 1000, procs, system: systemTicks() };
}

/** CPU ms used by each group of pids between two snapshots (pids seen in both). */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, groups: Record<string, number[]>): Record<string, number> & { loadgen: number; machineBusyPct: number; neighbourCores: number } {
  const out: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) {
    let sum = 0;
    for (const pid of pids) {
      const x = a.procs.get(pid);
      const y = b.procs.get(pid);
      if (x !== undefined && y !== undefined) sum += y - x;
    }
    out[name] = sum;
  }
  const dt = b.system.total - a.system.total;
  const loadgen = Math.round(b.self - a.self);
  // Everything else the machine did meanwhile (other people's tests, daemons), in cores: the noise indicator.
  const busyMs = (b.system.busy - a.system.busy) * TICK_MS;
  const ours = Object.values(out).reduce((x, y) => x + y, 0) + loadgen;
  const wallMs = b.at - a.at;
  return Object.assign(out, {
    loadgen,
    machineBusyPct: dt > 0 ? Math.round(((b.system.busy - a.system.busy) / dt) * 1000) / 10 : NaN,
    neighbourCores: wallMs > 0 ? Math.round((Math.max(0, busyMs - ours) / wallMs) * 100) / 100 : NaN,
  });
}

/**
 * CPU used by groups of processes over a phase, following processes that
 * come and go (a connection pool closes idle connections and opens new ones
 * mid-phase): each group's pids are re-listed every `everyMs`; a process
 * first seen after the start was born during the phase and counts from zero.
 */
export async function trackCpu(providers: Record<string, () => number[] | Promise<number[]>>, everyMs = 250) {
  const base = new Map<string, Map<number, number>>();
  const last = new Map<string, Map<number, number>>();
  const poll = async (initial: boolean) => {
    for (const [g, list] of Object.entries(providers)) {
      const pids = await list();
      const b = base.get(g) ?? new Map<number, number>();
      const l = last.get(g) ?? new Map<number, number>();
      for (const pid of pids) {
        const ms = processCpuMs(pid);
        if (ms === null) continue;
        if (!b.has(pid)) b.set(pid, initial ? ms : 0);
        l.set(pid, ms);
      }
      base.set(g, b);
      last.set(g, l);
    }
  };
  await poll(true);
  const sys0 = systemTicks();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void poll(false).catch(() => {}).finally(() => (busy = false));
  }, everyMs);
  return {
    async stop(): Promise<Record<string, number> & { loadgen: number; machineBusyPct: number; neighbourCores: number }> {
      clearInterval(timer);
      await poll(false).catch(() => {});
      const wallMs = performance.now() - t0;
      const sys1 = systemTicks();
      const u = process.cpuUsage(self0);
      const out: Record<string, number> = {};
      for (const [g, b] of base) {
        let sum = 0;
        for (const [pid, ms0] of b) sum += (last.get(g)!.get(pid) ?? ms0) - ms0;
        out[g] = sum;
      }
      const loadgen = Math.round((u.user + u.system) / 1000);
      const busyMs = (sys1.busy - sys0.busy) * TICK_MS;
      const ours = Object.values(out).reduce((x, y) => x + y, 0) + loadgen;
      const dt = sys1.total - sys0.total;
      return Object.assign(out, {
        loadgen,
        machineBusyPct: dt > 0 ? Math.round(((sys1.busy - sys0.busy) / dt) * 1000) / 10 : NaN,
        neighbourCores: wallMs > 0 ? Math.round((Math.max(0, busyMs - ours) / wallMs) * 100) / 100 : NaN,
      });
    },
  };
}

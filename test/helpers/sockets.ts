/**
 * Listening sockets of local processes, read from the kernel's tables (/proc/net/tcp, tcp6 and
 * /proc/<pid>/fd), so a test checks where a service really listens, not what it was told.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { parentOf } from './procs';

export const canReadSockets = (): boolean => existsSync('/proc/net/tcp');

export interface Listener {
  address: string;
  port: number;
  inode: string;
}

const IPV4_LOOPBACK = /^[0-9A-F]{6}7F$/i; // 127.0.0.0/8: /proc/net/tcp writes IPv4 little-endian
const IPV6_LOOPBACK = new Set(['00000000000000000000000001000000', '0000000000000000FFFF00000100007F']);

/** LISTEN sockets from /proc/net/tcp and tcp6. */
export function listeners(): Listener[] {
  const found: Listener[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A' || f[1] === undefined || f[9] === undefined) continue;
      const [address = '', port = '0'] = f[1].split(':');
      found.push({ address, port: parseInt(port, 16), inode: f[9] });
    }
  }
  return found;
}

export const isLoopback = (hex: string): boolean =>
  IPV4_LOOPBACK.test(hex) || IPV6_LOOPBACK.has(hex.toUpperCase());

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes; // exited meanwhile
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  return inodes;
}

/** `pid` and every process below it. */
function processTree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentOf(Number(entry));
    if (ppid) parent.set(Number(entry), ppid); // 0: exited meanwhile
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, ppid] of parent) if (ppid === tree[i]) tree.push(child);
  }
  return tree;
}

/** Every LISTEN socket of a process tree. */
export function listenersOf(pid: number): Listener[] {
  const inodes = new Set(processTree(pid).flatMap((p) => [...socketInodes(p)]));
  return listeners().filter((l) => inodes.has(l.inode));
}

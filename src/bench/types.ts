/** The shape of a benchmark's results (also its JSON output). */
import type { Stats } from './stats.js';
import type { Machine } from './machine.js';

export interface RunSample {
  wall: number;
  cpu: number | null;
  maxRssKiB: number | null;
  treeRssKiB: number | null;
}

/** One command measured over several runs. */
export interface Measured {
  /** Short name in the table: "corepack", "tar | lbzip2 -c -9", "tar cjf (bzip2)". */
  label: string;
  /** What exactly ran (shell form, for the reader). */
  command: string;
  samples: RunSample[];
  wall: Stats | null;
  /** User + system CPU seconds of the tree. */
  cpu: Stats | null;
  /** GNU time %M: largest single process of the tree, KiB. */
  maxRssKiB: Stats | null;
  /** Sampled sum of the tree's VmRSS, KiB. */
  treeRssKiB: Stats | null;
  /** Size of what it wrote (bundles), bytes; the same every run. */
  outputBytes: number | null;
  /** Why it has no numbers (not available, failed). */
  unavailable: string | null;
}

export interface Comparison {
  alt: Measured;
  /** corepack median wall / alternative median wall (lower is better for corepack). */
  timeRatio: number | null;
  /** corepack bundle bytes / alternative bytes. */
  sizeRatio: number | null;
}

export type FigureId = 'inspect' | 'inspect-sea' | 'collect-tbz2' | 'collect-tgz' | 'collect-zst' | 'collect-stacks-only' | 'replay';

export interface Figure {
  id: FigureId;
  title: string;
  corepack: Measured;
  comparisons: Comparison[];
  notes: string[];
}

export interface SizeResult {
  /** What --size asked for, bytes of heap filled. */
  heapBytes: number;
  /** Runs per figure at this size. */
  runs: number;
  core: {
    size: number;
    diskSize: number;
    sparseBytes: number;
    noneBytes: number;
    method: 'kernel' | 'gcore';
    seconds: number;
  };
  /** The file list the tar alternatives archive: the core, then the bundled files. */
  files: Array<{ path: string; size: number }>;
  figures: Figure[];
  /** collect --stacks-only of this core (one unmeasured run): null when it failed. */
  miniCore: MiniCoreSize | null;
}

export interface MiniCoreSize {
  /** The mini core file, as bundled. */
  coreBytes: number;
  /** Its bundle, with the executable and libraries. */
  bundleBytes: number;
  bundleFormat: string;
  /** Memory bytes kept, and in how many ranges. */
  memoryBytes: number;
  ranges: number;
}

export type Verdict = 'PASS' | 'FALL SHORT' | 'N/A';

export interface GoalResult {
  id: string;
  goal: string;
  verdict: Verdict;
  /** The numbers behind the verdict, one per size/format, e.g. "64 MiB .tbz2: 1.32× (limit 1.15×)". */
  details: string[];
}

export interface BenchResults {
  tool: 'corepack-bench';
  corepackVersion: string;
  startedAt: string;
  seconds: number;
  machine: Machine;
  /** 1-minute load average before and after: other work on the machine skews wall times. */
  load: { before: number; after: number };
  options: { sizes: number[]; runs: number[]; quick: boolean };
  replayAvailable: boolean;
  /** How each measurement is taken, for the reader of the JSON. */
  method: string[];
  sizes: SizeResult[];
  goals: GoalResult[];
}

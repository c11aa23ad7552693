/**
 * The npm package's start (bin/corepack.js loads it, bundled or not): the
 * early Ctrl-C exit first, then the command's modules. Before they load
 * (0.1–0.2 s, longer on a busy machine) a SIGINT or SIGTERM says it
 * interrupted, instead of Node's silent default.
 */
import { exitOnEarlyInterrupt } from './signals.js';

exitOnEarlyInterrupt();
const { runCli } = await import('./entry.js');
runCli(process.argv);

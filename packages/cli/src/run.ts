/**
 * Process entry of the `overt` command (bin/overt.js loads this): wires {@link main} to stdout, stderr, the
 * environment, the terminal (for passphrase prompts) and the process's stop signals, and sets the exit code. An
 * unexpected exception is a bug: it is printed and exits 1.
 */
import { main } from './main.js';
import { readLineFromTty, readSecretFromTty } from './tty.js';

const stopped = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});

try {
  process.exitCode = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stopped,
    env: process.env,
    // A passphrase is asked for only where a person can type it without echo.
    ...(process.stdin.isTTY ? { readSecret: readSecretFromTty, readLine: readLineFromTty } : {}),
    stderrIsTTY: process.stderr.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
  });
} catch (e) {
  console.error('overt: unexpected error (a bug):', e);
  process.exitCode = 1;
}
// fetch keeps idle keep-alive connections open for seconds; the command is done, so do not wait for them.
process.exit();

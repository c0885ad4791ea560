/**
 * Exit status as `tessera --help` says: 0 ok; 1 a check failed; 2 a user error (bad input, usage); 3 an
 * internal error. The user-error cases are in errors.test.ts, the failed check in cli.test.ts; here: usage
 * errors through the real command, and the rule that sorts a failure into 2 or 3.
 */
import { describe, expect, it } from 'vitest';
import { exitStatusOf, TesseraError } from '../../src/errors.js';
import { tessera } from './helpers.js';

describe('tessera exit status', () => {
  it('an unknown command is a usage error: it says so and exits 2', () => {
    const r = tessera('frobnicate', 'model.onnx');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('an unknown option is a usage error: exit 2', () => {
    const r = tessera('targets', '--frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it('no command prints the usage and exits 2; --help prints it and exits 0, saying what each status means', () => {
    const none = tessera();
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/Usage: tessera/);
    const help = tessera('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/0 ok; 1 --check found outputs outside tolerance; 2 bad input or usage .*; 3 internal error/);
  });

  it('a bad option value is a user error (BAD_ARGUMENT), exit 2', () => {
    const r = tessera('compile', 'x.onnx', '--target', 'host', '--split', 'sideways');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error \[BAD_ARGUMENT\]: --split 'sideways'/);
  });

  it('sorts failures: a TesseraError is a user error (2) unless its code is INTERNAL (3); anything else thrown is internal (3)', () => {
    expect(exitStatusOf(new TesseraError('BAD_PLAN', 'x'))).toBe(2);
    expect(exitStatusOf(new TesseraError('FILE_NOT_FOUND', 'x'))).toBe(2);
    expect(exitStatusOf(new TesseraError('INTERNAL', 'x'))).toBe(3);
    expect(exitStatusOf(new TypeError('x'))).toBe(3);
    expect(exitStatusOf('a string')).toBe(3);
  });
});

/**
 * SVC-1 (docs/spec/start.md §4.4.5): a service's pino logger writes one JSON line per record with the service's
 * name, and removes secret-bearing fields even when a caller passes one by mistake, at the top level and one level
 * down. The services' real output is checked end to end in overt-init-cli.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { REDACTED_FIELDS, serviceLogger } from './service-log.js';

describe('serviceLogger (SVC-1)', () => {
  it('writes JSON lines with the service and level, and redacts every secret-bearing field', () => {
    const lines: string[] = [];
    const log = serviceLogger('relay', 'info', (l) => lines.push(l));
    const secret = 'S3CR3T-value-that-must-not-appear';
    const fields = Object.fromEntries(REDACTED_FIELDS.map((f) => [f, secret]));
    log.info({ ...fields, nested: { ...fields }, route: '/v1/x' }, 'request');
    log.debug({ route: '/debug' }, 'not written at info');
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).not.toContain(secret);
    const o = JSON.parse(line) as Record<string, unknown>;
    expect(o).toMatchObject({ level: 'info', service: 'relay', msg: 'request', route: '/v1/x' });
    for (const f of REDACTED_FIELDS) {
      expect(o[f]).toBe('[redacted]');
      expect((o.nested as Record<string, unknown>)[f]).toBe('[redacted]');
    }
  });

  it('writes nothing at level silent', () => {
    const lines: string[] = [];
    serviceLogger('witness', 'silent', (l) => lines.push(l)).error('failure');
    expect(lines).toEqual([]);
  });
});

/**
 * The HTTP endpoint of crypto-shredding (docs/spec/after-release.md §6), registered by routes.ts with the access
 * endpoints' processing order and strict input (ACC-0).
 */
import { z } from 'zod';
import { base64 } from '../http/schemas.js';
import { type AccessRoute, accessInput } from './routes.js';
import type { TrusteeCaller } from './service.js';
import type { ShredService } from './shreds.js';

/** The largest signed shred statement: u32 length ‖ body (≤ 80 bytes) ‖ Ed25519 signature. */
const MAX_SIGNED_SHRED = 4 + 80 + 64;

const shredBody = z.strictObject({
  shred: base64(MAX_SIGNED_SHRED).refine((b) => b.length <= MAX_SIGNED_SHRED, 'too long'),
});

/** `POST /v1/trustee/shreds` (T): `{shred: b64}` → 201 (200 for the same bytes again) `{index, shredded}`. */
export function registerShredRoutes(route: AccessRoute, shreds: ShredService): void {
  route('POST', '/v1/trustee/shreds', { auth: 'trustee', body: 'json' }, async (ctx) => {
    accessInput(z.strictObject({}), ctx.req.query ?? {});
    const { shred } = accessInput(shredBody, ctx.json);
    const r = await shreds.submitShred(ctx.caller as TrusteeCaller, shred);
    ctx.reply.status(r.created ? 201 : 200);
    return { index: r.index, shredded: r.shredded };
  });
}

// Variant A: no authentication at all; the baseline every ratio is measured against.
import { createAppModule, serve } from './common.mjs';

await serve(createAppModule());

// Draws the ratios of a load benchmark run (bench/results/latest.json) as an SVG bar
// chart: one group per scenario, one bar per variant, each bar the variant's median
// req/s divided by the unprotected route's in the same rounds. `npm run bench` calls it
// after every run; it also runs alone, on the results already there:
//
//   node bench/chart.mjs                          latest.json -> latest.svg
//   node bench/chart.mjs <results.json> <out.svg>
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');
const BASELINE = 'unprotected';

// Layout, in SVG user units (pixels at 100%).
const WIDTH = 960;
const LABEL_WIDTH = 420;
const BAR_LEFT = LABEL_WIDTH + 10;
const BAR_AREA = WIDTH - BAR_LEFT - 70;
const BAR_HEIGHT = 18;
const BAR_GAP = 6;
const GROUP_GAP = 18;
const TOP = 78;
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/** Bar colours: this library stands out, peers are neutral, floors are pale. */
function colourOf(variant) {
  if (variant === 'nestjs-bearer') return '#1f6feb';
  if (variant.startsWith('nestjs-bearer')) return '#79a8f2';
  if (variant.startsWith('nest-') && variant.endsWith('-floor'))
    return '#c8ccd1';
  return '#8b949e';
}

function escapeXml(text) {
  return String(text).replace(
    /[<>&"']/g,
    (c) =>
      ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[
        c
      ],
  );
}

/** The axis end: the largest ratio (at least 1), rounded up to a quarter. */
function axisMax(results) {
  const ratios = results.flatMap((r) => r.rows.map((row) => row.ratio ?? 0));
  return Math.ceil(Math.max(1, ...ratios) * 4) / 4;
}

/**
 * The SVG text of a run's ratios. `run` is the object bench/run.mjs writes to
 * latest.json: `{ startedAt, machine, options, results: [{ label, rows: [...] }] }`.
 */
export function renderChart(run) {
  const results = run.results ?? [];
  const max = axisMax(results);
  const x = (ratio) => BAR_LEFT + (Math.max(0, ratio) / max) * BAR_AREA;
  const body = [];
  let y = TOP;
  for (const result of results) {
    const rows = result.rows.filter((row) => row.variant !== BASELINE);
    if (rows.length === 0) continue;
    body.push(
      `<text x="16" y="${y + 13}" font-weight="600" font-size="14">${escapeXml(result.label)}</text>`,
    );
    y += BAR_HEIGHT + BAR_GAP;
    for (const row of rows) {
      const ratio = row.ratio ?? 0;
      const end = x(ratio);
      body.push(
        `<text x="${LABEL_WIDTH}" y="${y + 13}" text-anchor="end" font-size="12">${escapeXml(row.label)}</text>`,
        `<rect x="${BAR_LEFT}" y="${y}" width="${(end - BAR_LEFT).toFixed(1)}" height="${BAR_HEIGHT}" rx="2" fill="${colourOf(row.variant)}"><title>${escapeXml(`${result.label}, ${row.label}: ${ratio.toFixed(2)}x unprotected (${Math.round(row.medianRps)} req/s)`)}</title></rect>`,
        `<text x="${(end + 6).toFixed(1)}" y="${y + 13}" font-size="12">${ratio.toFixed(2)}x</text>`,
      );
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += GROUP_GAP;
  }
  const bottom = y;
  const height = bottom + 40;

  // Grid lines every quarter, and the baseline (unprotected = 1.0) drawn over them.
  const grid = [];
  for (let tick = 0; tick <= max + 1e-9; tick += 0.25) {
    const gx = x(tick).toFixed(1);
    grid.push(
      `<line x1="${gx}" y1="${TOP - 6}" x2="${gx}" y2="${bottom - GROUP_GAP}" stroke="#e6e8eb"/>`,
      `<text x="${gx}" y="${bottom - GROUP_GAP + 16}" text-anchor="middle" font-size="11" fill="#57606a">${tick.toFixed(2)}</text>`,
    );
  }
  const one = x(1).toFixed(1);
  grid.push(
    `<line x1="${one}" y1="${TOP - 6}" x2="${one}" y2="${bottom - GROUP_GAP}" stroke="#cf222e" stroke-dasharray="4 3"/>`,
    `<text x="${one}" y="${TOP - 10}" text-anchor="middle" font-size="11" fill="#cf222e">unprotected = 1.00</text>`,
  );

  const machine = run.machine ?? {};
  const options = run.options ?? {};
  const subtitle = [
    run.startedAt === undefined ? undefined : `run ${run.startedAt}`,
    machine.cpu === undefined
      ? undefined
      : `${machine.cpu} (${machine.cores} cores)`,
    machine.node === undefined ? undefined : `Node ${machine.node}`,
    options.rounds === undefined
      ? undefined
      : `${options.rounds} round(s) x ${options.duration} s, ${options.connections} connections`,
    options.quick ? 'quick smoke run: indicative only' : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
  const title =
    'Throughput relative to the unprotected route (higher is better)';

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family='${FONT}' role="img" aria-labelledby="chart-title chart-desc">
<title id="chart-title">${escapeXml(title)}</title>
<desc id="chart-desc">${escapeXml(`Median requests per second of each variant divided by the unprotected route's, per scenario. ${subtitle}`)}</desc>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="16" y="26" font-size="17" font-weight="600" fill="#1f2328">${escapeXml(title)}</text>
<text x="16" y="46" font-size="12" fill="#57606a">${escapeXml(subtitle)}</text>
${grid.join('\n')}
<g fill="#1f2328">
${body.join('\n')}
</g>
<text x="${BAR_LEFT}" y="${height - 8}" font-size="11" fill="#57606a">x unprotected (median req/s ratio, same rounds); table and method: bench/results/latest.md</text>
</svg>
`;
}

/** Reads a run's JSON and writes its chart next to it (atomically). Returns the SVG path. */
export function writeChart(
  jsonPath = join(RESULTS_DIR, 'latest.json'),
  svgPath = jsonPath.replace(/\.json$/, '.svg'),
) {
  const run = JSON.parse(readFileSync(jsonPath, 'utf8'));
  writeFileSync(`${svgPath}.tmp`, renderChart(run));
  renameSync(`${svgPath}.tmp`, svgPath);
  return svgPath;
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href
) {
  const [input, output] = process.argv.slice(2);
  const written = writeChart(
    input === undefined ? undefined : resolve(input),
    output === undefined ? undefined : resolve(output),
  );
  console.log(`written: ${written}`);
}

/** A grouped bar chart in plain SVG (no chart library): one group per label, one bar per series. */
export interface ChartGroup {
  readonly label: string;
  readonly values: readonly number[];
}

export function BarChart(props: {
  readonly title: string;
  readonly groups: readonly ChartGroup[];
  readonly series: readonly string[];
}) {
  const { groups, series } = props;
  const max = Math.max(1, ...groups.flatMap((g) => g.values));
  const barW = 14;
  const gap = 18;
  const groupW = Math.max(series.length * barW + gap, 96);
  const h = 160;
  const left = 32;
  const width = Math.max(240, left + groups.length * groupW + 8);
  const ticks = [0, Math.ceil(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
  const y = (v: number) => 10 + (h - 10) * (1 - v / max);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      {groups.length === 0 ? (
        <p class="muted">Nothing on the log yet.</p>
      ) : (
        <svg
          viewBox={`0 0 ${width} ${h + 40}`}
          width={width}
          height={h + 40}
          role="img"
          aria-label={`${props.title}: ${groups
            .map((g) => `${g.label} ${g.values.map((v, i) => `${v} ${series[i]}`).join(', ')}`)
            .join('; ')}`}
        >
          {ticks.map((t) => (
            <g key={t}>
              <line x1={left} x2={width} y1={y(t)} y2={y(t)} class="grid" />
              <text x={left - 4} y={y(t) + 4} text-anchor="end" class="tick">
                {t}
              </text>
            </g>
          ))}
          {groups.map((g, gi) => (
            <g key={g.label} transform={`translate(${left + gap / 2 + gi * groupW},0)`}>
              {g.values.map((v, si) => (
                <rect
                  key={series[si]}
                  x={si * barW}
                  y={y(v)}
                  width={barW - 2}
                  height={h - y(v)}
                  class={`s${si % 4}`}
                >
                  <title>{`${g.label}: ${v} ${series[si]}`}</title>
                </rect>
              ))}
              <text x={(series.length * barW) / 2} y={h + 16} text-anchor="middle" class="tick">
                {g.label.length > 16 ? `${g.label.slice(0, 15)}…` : g.label}
              </text>
            </g>
          ))}
        </svg>
      )}
      <ul class="legend">
        {series.map((s, i) => (
          <li key={s}>
            <span class={`swatch s${i % 4}`} /> {s}
          </li>
        ))}
      </ul>
    </figure>
  );
}

// Where the range's traffic went: top adapters, top API keys and the strategy split. A row's
// button narrows the whole page to that adapter or key.
import { formatCompact, formatCount, formatMs } from "@/components/ui/format";
import { EmptyState } from "@/components/ui/states";
import type { UsageReport } from "./usage-query";

interface Props {
  report: UsageReport;
  onAdapter(id: string, name: string): void;
  onApiKey(id: string, name: string): void;
}

export function UsageBreakdowns({ report, onAdapter, onApiKey }: Props) {
  return (
    <div className="breakdowns">
      <section aria-labelledby="top-adapters-title">
        <h2 id="top-adapters-title">Top adapters</h2>
        {report.topAdapters.length === 0 ? (
          <EmptyState title="No adapter was used in this range." />
        ) : (
          <div className="table-wrap">
            <table data-testid="top-adapters">
              <thead>
                <tr>
                  <th scope="col">Adapter</th>
                  <th scope="col" className="num">
                    Requests
                  </th>
                  <th scope="col" className="num">
                    Tokens out
                  </th>
                  <th scope="col" className="num">
                    Errors
                  </th>
                </tr>
              </thead>
              <tbody>
                {report.topAdapters.map((a) => (
                  <tr key={a.adapterId ?? `deleted:${a.name}`}>
                    <td>
                      {a.adapterId ? (
                        <button type="button" className="link" onClick={() => onAdapter(a.adapterId!, a.name)} aria-label={`Show only ${a.name}`}>
                          {a.name}
                        </button>
                      ) : (
                        <>
                          {a.name} <span className="muted small">(deleted)</span>
                        </>
                      )}
                    </td>
                    <td className="num">{formatCount(a.requests)}</td>
                    <td className="num">{formatCompact(a.tokensOut)}</td>
                    <td className="num">{formatCount(a.errors)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="top-keys-title">
        <h2 id="top-keys-title">Top API keys</h2>
        {report.topApiKeys.length === 0 ? (
          <EmptyState title="No requests came through an API key in this range." />
        ) : (
          <div className="table-wrap">
            <table data-testid="top-api-keys">
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col" className="num">
                    Requests
                  </th>
                  <th scope="col" className="num">
                    Tokens out
                  </th>
                </tr>
              </thead>
              <tbody>
                {report.topApiKeys.map((k) => (
                  <tr key={k.apiKeyId}>
                    <td>
                      <button
                        type="button"
                        className="link"
                        onClick={() => onApiKey(k.apiKeyId, `${k.name} (${k.prefix})`)}
                        aria-label={`Show only the key ${k.name}`}
                      >
                        {k.name}
                      </button>{" "}
                      <code className="small">{k.prefix}</code>
                    </td>
                    <td className="num">{formatCount(k.requests)}</td>
                    <td className="num">{formatCompact(k.tokensOut)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="strategies-title">
        <h2 id="strategies-title">By strategy</h2>
        <div className="table-wrap">
          <table data-testid="by-strategy">
            <thead>
              <tr>
                <th scope="col">Strategy</th>
                <th scope="col" className="num">
                  Requests
                </th>
                <th scope="col" className="num">
                  Tokens out
                </th>
                <th scope="col" className="num">
                  Errors
                </th>
                <th scope="col" className="num">
                  Latency p50
                </th>
              </tr>
            </thead>
            <tbody>
              {report.byStrategy.map((s) => (
                <tr key={s.strategy}>
                  <td>{s.strategy.toLowerCase()}</td>
                  <td className="num">{formatCount(s.stats.requests)}</td>
                  <td className="num">{formatCompact(s.stats.tokensOut)}</td>
                  <td className="num">{formatCount(s.stats.errors)}</td>
                  <td className="num">{formatMs(s.stats.latencyP50Ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

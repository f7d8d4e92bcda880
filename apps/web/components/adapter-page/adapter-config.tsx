// The served version's LoRA shape and files: rank, alpha and the resulting scale, target
// modules, dtype, size and content hash (null fields before the first version is active).
import { CopyButton } from "@/components/ui/copy-button";
import { formatBytes, formatDateTime } from "@/components/ui/format";
import { loraScale, type AdapterDetail } from "./adapter-detail";

export function AdapterConfig({ adapter: a }: { adapter: AdapterDetail }) {
  const scale = a.rank !== null && a.alpha !== null && a.scaling ? loraScale(a.alpha, a.rank, a.scaling) : null;
  return (
    <section className="panel" aria-labelledby="config-title" data-testid="adapter-config">
      <h2 id="config-title">Configuration</h2>
      {a.version === null ? (
        <p className="muted">No version is served yet: the configuration shows once the first upload is active.</p>
      ) : (
        <dl className="facts">
          <dt>Served version</dt>
          <dd>v{a.version}</dd>
          <dt>Rank</dt>
          <dd data-testid="config-rank">{a.rank}</dd>
          <dt>Alpha</dt>
          <dd>{a.alpha}</dd>
          <dt>Scaling</dt>
          <dd>
            {a.scaling === "RSLORA" ? "rsLoRA, alpha / √r" : "alpha / r"}
            {scale !== null && <span className="muted"> = {Number(scale.toPrecision(4))}</span>}
          </dd>
          <dt>Target modules</dt>
          <dd>
            <ul className="chips" aria-label="Target modules">
              {a.targetModules.map((m) => (
                <li key={m}>{m}</li>
              ))}
            </ul>
          </dd>
          <dt>Weights</dt>
          <dd>
            {a.dtype} · {formatBytes(a.byteSize)}
          </dd>
          <dt>Content hash</dt>
          <dd className="hash">
            <code title="sha256 of adapter_model.safetensors">{a.contentHash}</code>
            {a.contentHash && <CopyButton value={a.contentHash} label="Copy hash" />}
          </dd>
          <dt>Base model</dt>
          <dd>{a.baseModel.name}</dd>
          <dt>Created</dt>
          <dd>{formatDateTime(a.createdAt)}</dd>
        </dl>
      )}
    </section>
  );
}

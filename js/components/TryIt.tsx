/**
 * The version page's "Try it": predict one image with the version, an uploaded file or an item picked
 * from a dataset (paged, searched by path; the version's dataset first). The result is the image with
 * its boxes drawn over it at whatever size it is shown (label and score on each, a score threshold
 * slider), or the label with its score and the top classes. The server predicts through the version's
 * deployment when one runs, else a short-lived kernel (seconds: a busy line with the time spent);
 * anything refused (a file that is not an image, a version without weights) is one red line.
 */

import * as React from 'react';

import type { IMMContext } from '../context';
import type { IDataset, IDatasetItemsPage, IPredictionRecord, IPredictResult } from '../types';
import { boxesSummary, boxPlace, formatScore, labelAbove, uploadProblem, visibleBoxes } from '../tryit';
import { useDebounced, useTicker } from './common';

const PAGE = 8;

interface ISource {
  kind: 'upload' | 'item';
  name: string;
  /** Where the <img> loads it: an object URL (upload) or the item's image route. */
  url: string;
  item?: number;
}

interface IOutcome {
  result: IPredictResult;
  seconds: number;
}

export function TryIt(props: { ctx: IMMContext; versionId: string; datasetId: string | null }): JSX.Element {
  const { ctx, versionId } = props;
  const [datasets, setDatasets] = React.useState<IDataset[] | null>(null);
  const [dataset, setDataset] = React.useState<string>('');
  const [search, setSearch] = React.useState('');
  const [offset, setOffset] = React.useState(0);
  const [items, setItems] = React.useState<IDatasetItemsPage | null>(null);
  const [itemsError, setItemsError] = React.useState('');
  const [source, setSource] = React.useState<ISource | null>(null);
  const [outcome, setOutcome] = React.useState<IOutcome | null>(null);
  const [busySince, setBusySince] = React.useState<number | null>(null);
  const [error, setError] = React.useState('');
  const [threshold, setThreshold] = React.useState(0.25);
  const fileInput = React.useRef<HTMLInputElement>(null);
  const seq = React.useRef(0);
  const objectUrl = React.useRef<string | null>(null);
  const query = useDebounced(search.trim(), 250);
  const now = useTicker(busySince !== null, 500);

  React.useEffect(() => {
    let cancelled = false;
    ctx.api
      .datasets()
      .then(list => {
        if (!cancelled) {
          setDatasets(list);
          setDataset(d => d || (list.find(x => x.id === props.datasetId) ?? list[0])?.id || '');
        }
      })
      .catch(err => !cancelled && setItemsError(String(err.message ?? err)));
    return () => {
      cancelled = true;
    };
  }, [ctx]);

  React.useEffect(() => setOffset(0), [dataset, query]);

  React.useEffect(() => {
    if (!dataset) {
      return;
    }
    let cancelled = false;
    ctx.api
      .datasetItems(dataset, { offset, limit: PAGE, search: query })
      .then(page => {
        if (!cancelled) {
          setItems(page);
          setItemsError('');
        }
      })
      .catch(err => !cancelled && (setItems(null), setItemsError(String(err.message ?? err))));
    return () => {
      cancelled = true;
    };
  }, [ctx, dataset, query, offset]);

  // an object URL lives while its image is shown
  const releaseUpload = () => {
    if (objectUrl.current) {
      URL.revokeObjectURL(objectUrl.current);
      objectUrl.current = null;
    }
  };
  React.useEffect(() => releaseUpload, []);
  React.useEffect(() => {
    seq.current++; // another version: an answer still on its way is not this one's
    setOutcome(null);
    setSource(null);
    setError('');
    setBusySince(null);
  }, [versionId]);

  const run = async (next: ISource, call: () => Promise<IPredictResult>) => {
    const mine = ++seq.current;
    const started = Date.now();
    setSource(next);
    setOutcome(null);
    setError('');
    setBusySince(started);
    try {
      const result = await call();
      if (mine === seq.current) {
        setOutcome({ result, seconds: (Date.now() - started) / 1000 });
      }
    } catch (err: any) {
      if (mine === seq.current) {
        setSource(null); // nothing broken is shown: the line says what is wrong
        setError(String(err.message ?? err));
      }
    } finally {
      if (mine === seq.current) {
        setBusySince(null);
      }
    }
  };

  const onFile = (file: File | undefined) => {
    if (!file) {
      return;
    }
    const problem = uploadProblem(file);
    if (problem) {
      seq.current++;
      setSource(null);
      setOutcome(null);
      setBusySince(null);
      setError(problem);
      return;
    }
    releaseUpload();
    objectUrl.current = URL.createObjectURL(file);
    void run({ kind: 'upload', name: file.name, url: objectUrl.current }, () => ctx.api.predict(versionId, { file, name: file.name }));
  };
  const onItem = (id: number, name: string) => {
    const ds = dataset;
    void run({ kind: 'item', name, url: ctx.api.itemImageUrl(ds, id), item: id }, () =>
      ctx.api.predict(versionId, { dataset: ds, itemId: id })
    );
  };

  const busy = busySince !== null;
  const total = items?.total ?? 0;
  const shownItems = items?.items ?? [];
  return (
    <div className="mm-tryit">
      <div className="mm-tryit-upload-row">
        <button
          className="jp-mod-styled mm-button mm-tryit-upload"
          disabled={busy}
          title="Predict an image file from this computer"
          onClick={() => fileInput.current?.click()}
        >
          Upload image…
        </button>
        <input
          ref={fileInput}
          className="mm-tryit-file"
          type="file"
          accept="image/*"
          aria-label="Image file to predict"
          hidden
          onChange={e => {
            onFile(e.currentTarget.files?.[0]);
            e.currentTarget.value = ''; // the same file again predicts again
          }}
        />
        <span className="mm-sub">or pick a dataset item:</span>
      </div>
      <div className="mm-tryit-pick">
        <div className="mm-inline-form">
          <select
            className="jp-mod-styled mm-tryit-dataset"
            aria-label="Dataset to pick an item from"
            value={dataset}
            disabled={!datasets?.length}
            onChange={e => setDataset(e.target.value)}
          >
            {!datasets?.length ? <option value="">{datasets ? 'no datasets' : 'loading…'}</option> : null}
            {(datasets ?? []).map(d => (
              <option key={d.id} value={d.id}>
                {d.name}
                {d.id === props.datasetId ? ' (its dataset)' : ''}
              </option>
            ))}
          </select>
        </div>
        <div className="mm-inline-form">
          <input
            className="jp-mod-styled mm-tryit-search"
            aria-label="Search items by path"
            placeholder="Search items by path"
            value={search}
            disabled={!dataset}
            onChange={e => setSearch(e.target.value)}
          />
        </div>
        {itemsError ? (
          <div className="mm-error-line mm-tryit-items-error" role="alert">
            {itemsError}
          </div>
        ) : null}
        <ul className="mm-tryit-items" aria-label="Dataset items">
          {shownItems.map(it => (
            <li key={it.id}>
              <button
                className="mm-tryit-item"
                data-item={it.id}
                aria-pressed={source?.kind === 'item' && source.item === it.id}
                disabled={busy}
                title={`${it.path} (item ${it.id}): predict it`}
                onClick={() => onItem(it.id, it.name)}
              >
                <span className="mm-tryit-item-name">{it.name}</span>
                {it.dir ? <span className="mm-sub"> {it.dir}</span> : null}
              </button>
            </li>
          ))}
          {items && !shownItems.length ? <li className="mm-empty">No items{query ? ` with “${query}” in their path` : ''}.</li> : null}
        </ul>
        {total > PAGE ? (
          <div className="mm-tryit-pager">
            <button
              className="jp-mod-styled mm-button mm-small mm-tryit-prev"
              aria-label="Previous items"
              disabled={offset === 0}
              onClick={() => setOffset(o => Math.max(0, o - PAGE))}
            >
              ‹
            </button>
            <span className="mm-sub mm-tryit-page">
              {offset + 1}–{Math.min(offset + PAGE, total)} of {total}
            </span>
            <button
              className="jp-mod-styled mm-button mm-small mm-tryit-next"
              aria-label="Next items"
              disabled={offset + PAGE >= total}
              onClick={() => setOffset(o => o + PAGE)}
            >
              ›
            </button>
          </div>
        ) : null}
      </div>
      {busy ? (
        <div className="mm-tryit-busy" role="status" aria-live="polite">
          <span className="mm-spinner" aria-hidden="true" />
          Predicting {source?.name ?? ''}… {Math.max(0, (now - busySince!) / 1000).toFixed(0)} s
          <span className="mm-sub"> (a short-lived kernel starts unless a deployment serves this version)</span>
        </div>
      ) : null}
      {error ? (
        <div className="mm-error-line mm-tryit-error" role="alert">
          {error}
        </div>
      ) : null}
      {outcome && source ? (
        <TryItResult
          source={source}
          outcome={outcome}
          threshold={threshold}
          onThreshold={setThreshold}
          onError={setError}
        />
      ) : null}
    </div>
  );
}

function TryItResult(props: {
  source: ISource;
  outcome: IOutcome;
  threshold: number;
  onThreshold: (t: number) => void;
  onError: (line: string) => void;
}): JSX.Element {
  const { source, outcome } = props;
  const record: IPredictionRecord | undefined = outcome.result.predictions[0];
  const via = outcome.result.via === 'kernel' ? 'a short-lived kernel' : `deployment ${outcome.result.via}`;
  return (
    <div className="mm-tryit-result" data-task={record?.task ?? 'none'} data-via={outcome.result.via}>
      <div className="mm-sub mm-tryit-source">
        {source.name} · via {via} · {outcome.seconds.toFixed(1)} s
      </div>
      {!record ? (
        <div className="mm-empty">No prediction came back.</div>
      ) : record.task === 'detection' ? (
        <Detection record={record} url={source.url} threshold={props.threshold} onThreshold={props.onThreshold} onError={props.onError} />
      ) : (
        <Classification record={record} url={source.url} onError={props.onError} />
      )}
    </div>
  );
}

function Detection(props: {
  record: Extract<IPredictionRecord, { task: 'detection' }>;
  url: string;
  threshold: number;
  onThreshold: (t: number) => void;
  onError: (line: string) => void;
}): JSX.Element {
  const { record, threshold } = props;
  const shown = visibleBoxes(record.boxes, threshold);
  const { width: w, height: h } = record;
  return (
    <>
      <div
        className="mm-tryit-frame"
        style={{ aspectRatio: `${w} / ${h}`, width: `min(100%, calc(360px * ${w} / ${h}))` }}
        data-width={w}
        data-height={h}
      >
        <img src={props.url} alt={record.image} onError={() => props.onError(`${record.image}: the image could not be shown`)} />
        {shown.map((b, i) => {
          const place = boxPlace(b.box, w, h);
          if (!place) {
            return null;
          }
          return (
            <div
              key={i}
              className="mm-tryit-box"
              data-label={b.label}
              data-score={b.score}
              style={{ left: `${place.left}%`, top: `${place.top}%`, width: `${place.width}%`, height: `${place.height}%` }}
            >
              <span
                className={`mm-tryit-box-label ${labelAbove(place) ? 'mm-above' : 'mm-inside'} ${
                  place.left + place.width / 2 > 50 ? 'mm-right' : 'mm-left'
                }`}
              >
                {b.label} {formatScore(b.score)}
              </span>
            </div>
          );
        })}
      </div>
      <label className="mm-tryit-threshold">
        <span>Score ≥</span>
        <input
          type="range"
          aria-label="Score threshold"
          min={0}
          max={1}
          step={0.05}
          value={threshold}
          onChange={e => props.onThreshold(Number(e.target.value))}
        />
        <span className="mm-tryit-threshold-value">{threshold.toFixed(2)}</span>
      </label>
      <div className="mm-sub mm-tryit-summary" data-shown={shown.length} data-total={record.boxes.length}>
        {boxesSummary(shown.length, record.boxes.length, threshold)}
      </div>
      {shown.length ? (
        <ol className="mm-tryit-boxlist">
          {shown.map((b, i) => (
            <li key={i} data-label={b.label}>
              <span className="mm-tryit-class">{b.label}</span> <span className="mm-tryit-score">{formatScore(b.score)}</span>
              <span className="mm-sub"> [{b.box.map(v => Math.round(v)).join(', ')}]</span>
            </li>
          ))}
        </ol>
      ) : null}
    </>
  );
}

function Classification(props: {
  record: Extract<IPredictionRecord, { task: 'classification' }>;
  url: string;
  onError: (line: string) => void;
}): JSX.Element {
  const { record } = props;
  return (
    <div className="mm-tryit-classification">
      <img
        className="mm-tryit-thumb"
        src={props.url}
        alt={record.image}
        onError={() => props.onError(`${record.image}: the image could not be shown`)}
      />
      <div className="mm-tryit-answer">
        <div className="mm-tryit-label" data-label={record.label} data-score={record.score ?? ''}>
          <span className="mm-tryit-class">{record.label}</span> <span className="mm-tryit-score">{formatScore(record.score)}</span>
        </div>
        <ol className="mm-tryit-topk" aria-label="Top classes">
          {record.top_k.map(k => (
            <li key={k.label} data-label={k.label}>
              <span className="mm-tryit-topk-label">{k.label}</span>
              <span className="mm-tryit-bar" aria-hidden="true">
                <span style={{ width: `${Math.max(0, Math.min(1, k.score)) * 100}%` }} />
              </span>
              <span className="mm-tryit-score">{formatScore(k.score)}</span>
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}

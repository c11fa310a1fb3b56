/** Shapes of the mm-jupyter REST API (`/mm-jupyter/api/`), as the server sends them. */

export type Status =
  | 'created'
  | 'pending'
  | 'in-progress'
  | 'success'
  | 'failed'
  | 'aborted'
  | 'terminated'
  | 'rerun';
export type Kind = 'train' | 'evaluate';

export interface IHealth {
  level: 'ok' | 'warning' | 'error';
  reason: string;
}

export interface IExecution {
  id: string;
  name: string;
  kind: Kind;
  status: Status;
  progress: number;
  attempts: number;
  created_at: number;
  queued_at: number | null;
  started_at: number | null;
  ended_at: number | null;
  duration: number | null;
  service: string;
  model_id: string;
  model_name: string | null;
  snapshot_id: string;
  snapshot_name?: string | null;
  error: string | null;
  rerun_of: string | null;
  /** Its version's tags in lower case (the search rule matches a tag whole). */
  snapshot_tags?: string[];
}

export interface IExecutionEvent {
  id: number;
  ts: number;
  level: string;
  message: string;
}

export interface IExecutionDetail extends IExecution {
  params: Record<string, unknown>;
  events?: IExecutionEvent[];
  notebook_path: string | null;
  can_abort: boolean;
  can_rerun: boolean;
}

export interface IPage {
  items: IExecution[];
  offset: number;
  limit: number;
  has_more: boolean;
}

export interface IMetricPoint {
  id: number;
  name: string;
  step: number | null;
  epoch: number | null;
  value: number;
  ts: number;
  /** The attempt that logged it (a retry's points replace the failed attempt's). */
  attempt?: number;
}

export type ConfigType = 'boolean' | 'integer' | 'number' | 'string' | 'json' | 'any';

export interface IConfigField {
  name: string;
  type: ConfigType;
  default: unknown;
  /** One sentence on what the key does (empty when the adapter gives none). */
  help?: string;
  low?: number | null;
  high?: number | null;
}

/** A secret as the server shows it: its name, never its value. */
export interface ISecret {
  name: string;
  set_at: number | null;
}

export interface IService {
  name: string;
  model_id: string;
  kind: Kind;
  kernel_name: string;
  concurrency: number;
  max_instances?: number;
  queue_size?: number;
  execution_timeout: number;
  drain_time: number;
  on_reset: 'fail' | 'rerun';
  max_attempts: number;
  runner?: string;
  gpus?: number;
  /** With a dask:// runner: the Jupyter server or `mm serve` its remote workers report to (null: none). */
  tracking_url?: string | null;
  paused: number;
  /** Names of the secrets every execution of the service gets in its kernel's environment. */
  secrets?: string[];
  /** Set while the service is stopping (epoch seconds when its running executions are ended). */
  draining_until?: number | null;
  health: IHealth & { code?: string };
  /** Executions waiting (pending or re-queued for a retry) and running. */
  pending?: number;
  running?: number;
}

export interface IVersionBrief {
  id: string;
  name: string | null;
  status: string;
  trained: boolean;
  created_at: number | null;
}

export interface INotes {
  snapshot_id: string;
  text: string;
  edited_at: number | null;
  edits: number;
}

export interface IWeights {
  available: boolean;
  files: { name: string; size: number }[];
  size: number;
  hash: string | null;
  /** Why there are none ("no weights yet: train this version first"). */
  message: string;
}

export interface IVersionExecution {
  id: string;
  name: string;
  kind: Kind;
  status: Status;
  progress: number | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  service: string;
  error: string | null;
}

/** `GET snapshots/<id>/page`: everything the version page shows. */
export interface IVersionPage {
  id: string;
  name: string;
  status: string;
  created_at: number;
  model_id: string;
  model_name: string | null;
  adapter: string | null;
  trained: boolean;
  config: Record<string, unknown>;
  labels: string[];
  filters: Record<string, ISelection>;
  dataset_id: string | null;
  parent: IVersionBrief | null;
  children: IVersionBrief[];
  repro: Record<string, any>;
  recorded: boolean;
  dataset: {
    id: string;
    name: string;
    trained_hash: string | null;
    current_hash: string | null;
    checked_at: number | null;
    changed: boolean | null;
  } | null;
  weights: IWeights;
  executions: IVersionExecution[];
  executions_total: number;
  notes: INotes;
  tags: string[];
  /** The version's deployments, newest first (its status is `deployed` while one runs). */
  deployments?: IDeployment[];
}

export interface ISnapshot {
  id: string;
  model_id: string;
  name: string;
  status: string;
  config: Record<string, unknown>;
  dataset_id: string | null;
  dataset_name?: string | null;
  filters: Record<string, ISelection>;
  labels: string[];
  parent_id: string | null;
  trained: boolean;
  created_at: number;
  last_train_status?: Status | null;
  tags?: string[];
}

export interface IModel {
  id: string;
  name: string;
  adapter: string;
  labels: string[];
  description: string;
  created_at: number;
  n_snapshots?: number;
  services?: Partial<Record<Kind, IHealth | null>>;
}

export interface IModelDetail extends Omit<IModel, 'services'> {
  config: Record<string, unknown>;
  config_schema: IConfigField[] | null;
  task: string | null;
  adapter_error: string | null;
  snapshots: ISnapshot[];
  services: Partial<Record<Kind, IService | null>>;
}

export type SelectionMode = 'tag' | 'filter' | 'dir' | 'query';
export type ISelection = Partial<Record<SelectionMode, any>>;

export interface IDefaults {
  model_id: string;
  snapshot_id: string | null;
  dataset_id: string | null;
  config: Record<string, unknown>;
  labels: string[];
  subsets: Record<'train' | 'validation' | 'test', ISelection>;
  sources: Record<string, string>;
}

export interface IDataset {
  id: string;
  name: string;
  root: string;
  format: string;
  labels: string[];
  n_items: number;
}

export interface IFilter {
  name: string;
  dataset_id: string | null;
  query: Record<string, unknown>;
}

export interface IDatasetDetail extends IDataset {
  tags: { tag: string; count: number }[];
  dirs: { dir: string; count: number }[];
  filters: IFilter[];
}

export interface ICount {
  count: number;
  filter: Record<string, unknown> | null;
  selection: ISelection;
}

export interface IMeta {
  statuses: Status[];
  finished: Status[];
  active: Status[];
  kinds: Kind[];
  service_defaults: Record<string, any>;
  on_reset: string[];
  kernels: string[];
  kernel_labels?: Record<string, string>;  // name → "Display name (language)"
  home: string;
  /** The registered runner schemes (`local`, `dask`, and any a package adds). */
  runners?: string[];
}

export interface ServiceSettings {
  kernel_name: string;
  concurrency: number;
  execution_timeout: number;
  drain_time: number;
  on_reset: string;
  max_attempts: number;
  /** `local` or `dask://host:port`. */
  runner: string;
  /** `http(s)://host:port` of a Jupyter server or `mm serve` (a dask:// runner only); "" clears it. */
  tracking_url: string;
}

export interface ILaunchResult {
  execution: IExecutionDetail;
  snapshot?: ISnapshot;
  created: boolean;
}

export interface ILogChunk {
  execution_id: string;
  offset: number;
  next_offset: number;
  size?: number;
  text: string;
}

/** A confidence interval `[lo, hi]` (null where the bootstrap left the metric undefined). */
export type IInterval = [number, number] | null;

export interface IEvalMetric {
  name: string;
  value: number | null;
  ci: IInterval | undefined;
}

/** One slice of an evaluation: its items, each metric with its interval, and the comparison with the
 * whole set (`delta` slice - whole, its interval, the metrics flagged significantly worse). */
export interface IEvalSlice {
  name: string;
  field: string;
  n: number | null;
  values: Record<string, number | null>;
  ci: Record<string, IInterval>;
  delta: Record<string, number | null>;
  delta_ci: Record<string, IInterval>;
  worse: string[];
}

/** `GET executions/<id>/evaluation`: everything but `state`/`message` only when `state` is `ready`. */
export interface IEvaluation {
  execution_id: string;
  name: string;
  status: Status;
  state: 'ready' | 'running' | 'failed' | 'missing';
  message: string;
  task?: 'detect' | 'classify';
  main_metric?: string;
  metrics?: IEvalMetric[];
  bootstrap?: { replicates: number; seed: number; level: number } | null;
  n_items?: number;
  labels?: string[];
  conf_threshold?: number | null;
  slice_metrics?: string[];
  slices?: IEvalSlice[];
  slice_fields?: string[];
  per_class?: Record<string, Record<string, number | null>>;
  pr_curves?: Record<string, { recall: (number | null)[]; precision: (number | null)[] }>;
  /** `unit`: what a cell counts (a detection's boxes, the background last; a classification's items). */
  confusion?: { labels: string[]; matrix: number[][]; unit?: 'items' | 'boxes' } | null;
  messages?: string[];
  slice_by?: string[] | null;
}

export interface IEvalBox {
  box: number[];
  label: string;
  score?: number | null;
}

/** One evaluated item: detection counts and boxes, or the true and predicted labels. */
export interface IEvalItem {
  item_id: number;
  name: string;
  dir: string;
  tags: string[];
  width: number | null;
  height: number | null;
  /** Relative to the API (`executions/<id>/evaluation/items/<item>/image`). */
  image_url: string;
  image: { ok: boolean; problem: string | null };
  n_gt?: number;
  n_det?: number;
  tp?: number;
  fp?: number;
  fn?: number;
  gt_boxes?: IEvalBox[];
  pred_boxes?: IEvalBox[];
  true?: string;
  pred?: string;
  correct?: boolean;
  confidence?: number | null;
}

export interface IEvalItemsQuery {
  slice?: string;
  true?: string;
  pred?: string;
  cls?: string;
  offset?: number;
  limit?: number;
}

export interface IEvalItemsPage {
  execution_id: string;
  task: 'detect' | 'classify';
  total: number;
  offset: number;
  limit: number;
  filter: { slice: string | null; true: string | null; pred: string | null; cls: string | null };
  conf_threshold: number | null;
  items: IEvalItem[];
}

/** One compared thing (`GET compare`): a version (its latest successful training and evaluation) or
 * an execution. */
export interface ICompareColumn {
  ref: string;
  kind: 'version' | 'execution';
  label: string;
  execution_kind: Kind | null;
  execution_id: string | null;
  model_id: string;
  model_name: string;
  adapter: string | null;
  version_id: string;
  version_name: string;
  train_execution_id: string | null;
  evaluate_execution_id: string | null;
  status: string;
}

/** One metric's lines, one per column, aligned by epoch or step. */
export interface ICompareCurve {
  x: 'epoch' | 'step';
  series: { column: number; points: [number, number][] }[];
}

export interface ICompareFinalRow {
  metric: string;
  values: (number | null)[];
  /** The values as every face prints them (4 significant digits; '' for none). */
  shown: string[];
  /** The best column (lowest for losses, else highest); null on a tie as shown or for one value. */
  best: number | null;
  lower_is_better: boolean;
  ranked: boolean;
}

export interface ICompareConfigRow {
  key: string;
  values: unknown[];
  /** `absent[i]`: column i has no such key (not the same as a null value). */
  absent: boolean[];
  differs: boolean;
}

export interface ICompareDelta {
  values: [number | null, number | null];
  ci: [IInterval | undefined, IInterval | undefined];
  /** Second column minus first. */
  delta: number | null;
  delta_ci: IInterval | null;
  significant: boolean;
}

export interface ICompareSliceRow {
  name: string;
  field: string;
  n: [number | null, number | null];
  metrics: Record<string, ICompareDelta>;
}

export interface ICompareSlices {
  columns: [number, number];
  evaluations: [string, string];
  task: 'detect' | 'classify';
  metrics: string[];
  main_metric: string;
  whole: { n: [number | null, number | null]; metrics: Record<string, ICompareDelta> };
  rows: ICompareSliceRow[];
  unmatched: number;
  intervals: boolean;
}

export interface ICompare {
  columns: ICompareColumn[];
  notes: string[];
  curves: Record<string, ICompareCurve>;
  final: ICompareFinalRow[];
  config: ICompareConfigRow[];
  config_diff: ICompareConfigRow[];
  slices: ICompareSlices | null;
  slices_reason: string | null;
}

export type DeploymentStatus = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** `GET deployments`: a version served by its own process, with health like a service's. */
export interface IDeployment {
  id: string;
  snapshot_id: string;
  snapshot_name: string | null;
  model_id: string;
  model_name: string | null;
  status: DeploymentStatus;
  kernel_name: string;
  address: string | null;
  restarts: number;
  error: string | null;
  health: (IHealth & { code: string }) | null;
  created_at: number;
  started_at?: number | null;
  ended_at?: number | null;
}

/** A scored box of a detection, in pixels of the original image. */
export interface IPredictedBox {
  label: string;
  score: number;
  box: [number, number, number, number];
}

export type IPredictionRecord =
  | { image: string; task: 'detection'; width: number; height: number; boxes: IPredictedBox[] }
  | {
      image: string;
      task: 'classification';
      label: string;
      score: number | null;
      top_k: { label: string; score: number }[];
    };

/** `POST snapshots/<id>/predict`: `via` is the deployment's id or `kernel` (a short-lived one). */
export interface IPredictResult {
  snapshot_id: string;
  via: string;
  predictions: IPredictionRecord[];
}

export interface IDatasetItem {
  id: number;
  name: string;
  dir: string;
  path: string;
  tags: string[];
}

/** `GET datasets/<id>/items`: one page of a dataset's items. */
export interface IDatasetItemsPage {
  items: IDatasetItem[];
  total: number;
  offset?: number;
  limit?: number;
}

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

export interface IService {
  name: string;
  model_id: string;
  kind: Kind;
  kernel_name: string;
  concurrency: number;
  execution_timeout: number;
  drain_time: number;
  on_reset: 'fail' | 'rerun';
  max_attempts: number;
  paused: number;
  health: IHealth;
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
  home: string;
}

export interface ServiceSettings {
  kernel_name: string;
  concurrency: number;
  execution_timeout: number;
  drain_time: number;
  on_reset: string;
  max_attempts: number;
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

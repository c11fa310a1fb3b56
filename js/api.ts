/** Typed calls to the server extension; every failure is an `ApiError` with the server's one line. */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type {
  ICompare,
  ICount,
  IDataset,
  IDatasetDetail,
  IDatasetItemsPage,
  IDeployment,
  IDefaults,
  IEvalItemsPage,
  IEvalItemsQuery,
  IEvaluation,
  IExecution,
  IExecutionDetail,
  IFilter,
  ILaunchResult,
  ILogChunk,
  IMeta,
  IMetricPoint,
  IModel,
  IModelDetail,
  IPage,
  INotes,
  IPredictResult,
  ISecret,
  IService,
  ISnapshot,
  IVersionPage
} from './types';
import { listQueryString, type IListQuery } from './query';

export const API_PATH = 'mm-jupyter/api';

/** An error answered by the server (status 400/404/409/...) or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

export class Api {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  url(path: string): string {
    return URLExt.join(this.settings.baseUrl, API_PATH, path);
  }

  /** A URL for EventSource: same origin, so the login cookie authenticates it (or the token). */
  streamUrl(path: string, params: Record<string, string | number> = {}): string {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) {
      query[k] = String(v);
    }
    if (this.settings.token) {
      query.token = this.settings.token;
    }
    const qs = URLExt.objectToQueryString(query);
    return this.url(path) + (qs === '?' ? '' : qs);
  }

  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(this.url(path), init, this.settings);
    } catch (err) {
      throw new ApiError(`cannot reach the server: ${(err as Error).message}`, 0);
    }
    const text = await response.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message = (data && data.message) || response.statusText || `HTTP ${response.status}`;
      throw new ApiError(String(message), response.status);
    }
    return data as T;
  }

  private post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>(path, { method: 'POST', body: JSON.stringify(body) });
  }

  meta(): Promise<IMeta> {
    return this.request('meta');
  }
  async models(): Promise<IModel[]> {
    return (await this.request<{ items: IModel[] }>('models')).items;
  }
  model(ref: string): Promise<IModelDetail> {
    return this.request(`models/${encodeURIComponent(ref)}`);
  }
  defaults(model: string, dataset?: string | null, snapshot?: string | null): Promise<IDefaults> {
    const qs = URLExt.objectToQueryString({ dataset: dataset ?? '', snapshot: snapshot ?? '' });
    return this.request(`models/${encodeURIComponent(model)}/defaults${qs}`);
  }
  async snapshots(model?: string, search?: string): Promise<ISnapshot[]> {
    const params: Record<string, string> = {};
    if (model) {
      params.model = model;
    }
    if (search?.trim()) {
      params.search = search.trim();
    }
    const qs = URLExt.objectToQueryString(params);
    return (await this.request<{ items: ISnapshot[] }>(`snapshots${qs === '?' ? '' : qs}`)).items;
  }
  versionPage(ref: string): Promise<IVersionPage> {
    return this.request(`snapshots/${encodeURIComponent(ref)}/page`);
  }
  setNotes(ref: string, text: string): Promise<INotes> {
    return this.request(`snapshots/${encodeURIComponent(ref)}/notes`, { method: 'PUT', body: JSON.stringify({ text }) });
  }
  changeTags(ref: string, change: { add?: string[]; remove?: string[] }): Promise<{ snapshot_id: string; tags: string[] }> {
    return this.request(`snapshots/${encodeURIComponent(ref)}/tags`, { method: 'PATCH', body: JSON.stringify(change) });
  }
  /** Where a browser downloads a version's weights (one file, or a zip of all): a plain link, so the
   * login cookie (or the token) authenticates it. */
  weightsUrl(ref: string, file?: string): string {
    return this.streamUrl(`snapshots/${encodeURIComponent(ref)}/weights`, file ? { file } : {});
  }
  async datasets(): Promise<IDataset[]> {
    return (await this.request<{ items: IDataset[] }>('datasets')).items;
  }
  dataset(ref: string): Promise<IDatasetDetail> {
    return this.request(`datasets/${encodeURIComponent(ref)}`);
  }
  count(dataset: string, selection: unknown): Promise<ICount> {
    return this.post(`datasets/${encodeURIComponent(dataset)}/count`, { selection });
  }
  async filters(dataset?: string): Promise<IFilter[]> {
    const qs = dataset ? `?dataset=${encodeURIComponent(dataset)}` : '';
    return (await this.request<{ items: IFilter[] }>(`filters${qs}`)).items;
  }
  async services(): Promise<IService[]> {
    return (await this.request<{ items: IService[] }>('services')).items;
  }
  setPaused(name: string, paused: boolean): Promise<IService> {
    return this.post(`services/${encodeURIComponent(name)}/${paused ? 'pause' : 'resume'}`);
  }
  /** Stop a service: no new work; its running executions get the drain time to finish. */
  stopService(name: string, drainTime?: number): Promise<IService> {
    return this.post(`services/${encodeURIComponent(name)}/stop`, drainTime === undefined ? {} : { drain_time: drainTime });
  }
  configureService(name: string, settings: Record<string, unknown>): Promise<IService> {
    return this.request(`services/${encodeURIComponent(name)}`, { method: 'PATCH', body: JSON.stringify(settings) });
  }
  /** Secret names and when they were set (the server never answers a value). */
  async secrets(): Promise<ISecret[]> {
    return (await this.request<{ items: ISecret[] }>('secrets')).items;
  }
  setSecret(name: string, value: string): Promise<ISecret> {
    return this.request(`secrets/${encodeURIComponent(name)}`, { method: 'PUT', body: JSON.stringify({ value }) });
  }
  executions(query: IListQuery): Promise<IPage> {
    return this.request(`executions${listQueryString(query)}`);
  }
  execution(ref: string): Promise<IExecutionDetail> {
    return this.request(`executions/${encodeURIComponent(ref)}`);
  }
  metrics(
    ref: string,
    after = 0
  ): Promise<{ points: IMetricPoint[]; last_id: number; has_more: boolean }> {
    return this.request(`executions/${encodeURIComponent(ref)}/metrics?after=${after}`);
  }
  logs(ref: string, offset?: number): Promise<ILogChunk> {
    const qs = offset === undefined ? '' : `?offset=${offset}`;
    return this.request(`executions/${encodeURIComponent(ref)}/logs${qs}`);
  }
  train(body: Record<string, unknown>): Promise<ILaunchResult> {
    return this.post('train', body);
  }
  evaluate(body: Record<string, unknown>): Promise<ILaunchResult> {
    return this.post('evaluate', body);
  }
  abort(ref: string): Promise<IExecution> {
    return this.post(`executions/${encodeURIComponent(ref)}/abort`);
  }
  rerun(ref: string): Promise<IExecutionDetail> {
    return this.post(`executions/${encodeURIComponent(ref)}/rerun`);
  }
  remove(ref: string): Promise<{ removed: string }> {
    return this.request(`executions/${encodeURIComponent(ref)}`, { method: 'DELETE' });
  }
  /** An evaluate execution's view: its state, metrics with intervals, slices, curves, confusion. */
  evaluation(ref: string): Promise<IEvaluation> {
    return this.request(`executions/${encodeURIComponent(ref)}/evaluation`);
  }
  /** A page of an evaluation's items, worst first, filtered by slice, confusion cell or class. */
  evaluationItems(ref: string, query: IEvalItemsQuery = {}): Promise<IEvalItemsPage> {
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') {
        params[k] = String(v);
      }
    }
    const qs = URLExt.objectToQueryString(params);
    return this.request(`executions/${encodeURIComponent(ref)}/evaluation/items${qs === '?' ? '' : qs}`);
  }
  /** Where an <img> loads an evaluated item's image (`image_url` of an item): the login cookie or the
   * token authenticates it. */
  evaluationImageUrl(imageUrl: string): string {
    return this.streamUrl(imageUrl);
  }
  /** 2–5 versions or executions compared: curves, final metrics, config diff, slice deltas. */
  compare(refs: string[]): Promise<ICompare> {
    const qs = refs.map(r => `ref=${encodeURIComponent(r)}`).join('&');
    return this.request(`compare${qs ? `?${qs}` : ''}`);
  }
  /** A version's predictions for an uploaded image (multipart) or a dataset item: through its
   * deployment when one runs, else a short-lived kernel (seconds). */
  predict(ref: string, input: { file: Blob; name?: string; topK?: number } | { dataset: string; itemId: number; topK?: number }): Promise<IPredictResult> {
    const path = `snapshots/${encodeURIComponent(ref)}/predict`;
    if ('file' in input) {
      const form = new FormData();
      form.append('image', input.file, input.name ?? ((input.file as File).name || 'image'));
      if (input.topK !== undefined) {
        form.append('top_k', String(input.topK));
      }
      return this.request(path, { method: 'POST', body: form });
    }
    const body: Record<string, unknown> = { dataset: input.dataset, item_id: input.itemId };
    if (input.topK !== undefined) {
      body.top_k = input.topK;
    }
    return this.post(path, body);
  }
  /** A page of a dataset's items, `search` a substring of the item's path. */
  datasetItems(dataset: string, query: { offset?: number; limit?: number; search?: string } = {}): Promise<IDatasetItemsPage> {
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== '') {
        params[k] = String(v);
      }
    }
    const qs = URLExt.objectToQueryString(params);
    return this.request(`datasets/${encodeURIComponent(dataset)}/items${qs === '?' ? '' : qs}`);
  }
  /** Where an <img> loads a dataset item's image (the login cookie or the token authenticates it). */
  itemImageUrl(dataset: string, item: number): string {
    return this.streamUrl(`datasets/${encodeURIComponent(dataset)}/items/${item}/image`);
  }
  /** Deployments, newest first: the live ones (starting, running, stopping), or every one with `all`. */
  async deployments(all = false): Promise<IDeployment[]> {
    return (await this.request<{ items: IDeployment[] }>(`deployments${all ? '?all=1' : ''}`)).items;
  }
  /** Deploy a version with weights; answers once the deployment runs (seconds). */
  deploy(snapshotId: string, options: { kernel?: string; secrets?: string[] } = {}): Promise<IDeployment> {
    return this.post('deployments', { snapshot_id: snapshotId, ...options });
  }
  /** Undeploy: the stopped deployment. */
  undeploy(id: string): Promise<IDeployment> {
    return this.request(`deployments/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }
}

/** The Evaluate form: a trained version, the dataset and its test subset, service settings. */

import { Notification } from '@jupyterlab/apputils';
import * as React from 'react';

import type { IMMContext } from '../context';
import { newKey, parseService, serviceTexts } from '../forms';
import type { IDataset, IDatasetDetail, IMeta, IModelDetail, ISelection, ServiceSettings } from '../types';
import { Field } from './common';
import { ServiceFields, Steps } from './Fields';
import { SecretFields } from './SecretFields';
import { SubsetPicker } from './SubsetPicker';

export function EvaluateForm(props: {
  ctx: IMMContext;
  modelId: string;
  snapshotId?: string | null;
  onDone: () => void;
}): JSX.Element {
  const { ctx } = props;
  const [meta, setMeta] = React.useState<IMeta | null>(null);
  const [model, setModel] = React.useState<IModelDetail | null>(null);
  const [datasets, setDatasets] = React.useState<IDataset[]>([]);
  const [dataset, setDataset] = React.useState<IDatasetDetail | null>(null);
  const [versionId, setVersionId] = React.useState(props.snapshotId ?? '');
  const [datasetId, setDatasetId] = React.useState('');
  const [test, setTest] = React.useState<ISelection | null>(null);
  const [testError, setTestError] = React.useState('');
  const [service, setService] = React.useState<Record<keyof ServiceSettings, string> | null>(null);
  const [secretNames, setSecretNames] = React.useState<string[]>([]);
  const [step, setStep] = React.useState(0);
  const [busy, setBusy] = React.useState(false);
  const [serverError, setServerError] = React.useState('');
  const [loadError, setLoadError] = React.useState('');
  const key = React.useRef(newKey());

  React.useEffect(() => {
    Promise.all([ctx.meta(), ctx.api.model(props.modelId), ctx.api.datasets()])
      .then(([m, detail, ds]) => {
        setMeta(m);
        setModel(detail);
        setDatasets(ds);
        setService(serviceTexts(m.service_defaults, 'evaluate', detail.services.evaluate ?? null));
        if (!props.snapshotId) {
          const trained = detail.snapshots.filter(s => s.trained);
          setVersionId(trained.length ? trained[trained.length - 1].id : '');
        }
      })
      .catch(err => setLoadError(String(err.message ?? err)));
  }, [props.modelId]);

  const loadDefaults = (snapshot: string, ds: string | null) => {
    if (!model || !snapshot) {
      return;
    }
    ctx.api
      .defaults(model.id, ds, snapshot)
      .then(d => {
        setDatasetId(d.dataset_id ?? '');
        setTest(d.subsets.test);
      })
      .catch(err => setLoadError(String(err.message ?? err)));
  };

  React.useEffect(() => loadDefaults(versionId, null), [model, versionId]);

  React.useEffect(() => {
    if (!datasetId) {
      setDataset(null);
      return;
    }
    ctx.api
      .dataset(datasetId)
      .then(setDataset)
      .catch(err => setLoadError(String(err.message ?? err)));
  }, [datasetId]);

  const svc =
    service && meta
      ? parseService(service, meta.kernels, meta.on_reset, serviceTexts(meta.service_defaults, 'evaluate', model?.services.evaluate ?? null), meta.runners)
      : { values: {}, errors: {} };
  const version = model?.snapshots.find(s => s.id === versionId) ?? null;
  const dataErrors = [version?.trained ? '' : 'choose a trained version', datasetId ? '' : 'choose a dataset', testError].filter(Boolean);
  const steps = [
    { title: 'Data', errors: dataErrors.length },
    { title: 'Service Settings', errors: Object.keys(svc.errors).length }
  ];
  const valid = steps.every(s => s.errors === 0);

  const submit = async () => {
    if (!valid || busy) {
      return;
    }
    setBusy(true);
    setServerError('');
    try {
      const result = await ctx.api.evaluate({
        snapshot: versionId,
        dataset: datasetId,
        test,
        service: svc.values,
        ...(secretNames.length ? { secrets: secretNames } : {}),
        idempotency_key: key.current
      });
      key.current = newKey();
      Notification.success(`Evaluation ${result.execution.id} queued (${result.execution.name})`, { autoClose: 4000 });
      ctx.showTab('evaluation');
      props.onDone();
    } catch (err: any) {
      const message = String(err.message ?? err);
      setServerError(message);
      Notification.error(message, { autoClose: 8000 });
      if (err.status && err.status < 500) {
        key.current = newKey();
      }
    } finally {
      setBusy(false);
    }
  };

  if (loadError) {
    return <div className="mm-form mm-error-line" role="alert">{loadError}</div>;
  }
  if (!model || !meta || !service) {
    return <div className="mm-form mm-empty">Loading…</div>;
  }
  return (
    <form className="mm-form mm-evaluate-form" onSubmit={e => e.preventDefault()}>
      <h2>
        Evaluate <span className="mm-form-model">{model.name}</span>
      </h2>
      <Steps steps={steps} current={step} onSelect={setStep} />
      <section className="mm-step-body" hidden={step !== 0} data-step-body={0}>
        <Field label="Version" error={version?.trained ? '' : 'choose a trained version'} name="version">
          <select className="jp-mod-styled" aria-label="Version" value={versionId} onChange={e => setVersionId(e.target.value)}>
            <option value="">choose…</option>
            {model.snapshots.map(s => (
              <option key={s.id} value={s.id} disabled={!s.trained}>
                {s.name} ({s.status})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Dataset" error={datasetId ? '' : 'choose a dataset'} name="dataset">
          <select
            className="jp-mod-styled"
            aria-label="Dataset"
            value={datasetId}
            onChange={e => {
              setDatasetId(e.target.value);
              loadDefaults(versionId, e.target.value || null);
            }}
          >
            <option value="">choose…</option>
            {datasets.map(d => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.format}, {d.n_items} items)
              </option>
            ))}
          </select>
        </Field>
        <SubsetPicker
          api={ctx.api}
          role="test"
          label="Test subset"
          dataset={dataset}
          value={test}
          required={true}
          onChange={setTest}
          onCount={(_, err) => setTestError(err)}
        />
      </section>
      <section className="mm-step-body" hidden={step !== 1} data-step-body={1}>
        <ServiceFields
          texts={service}
          errors={svc.errors}
          kernels={meta.kernels}
          kernelLabels={meta.kernel_labels}
          onReset={meta.on_reset}
          onChange={(k, t) => setService(s => ({ ...(s as Record<keyof ServiceSettings, string>), [k]: t }))}
        />
        <SecretFields
          api={ctx.api}
          selected={secretNames}
          fromService={model.services.evaluate?.secrets ?? []}
          onChange={setSecretNames}
        />
      </section>
      {serverError ? (
        <div className="mm-error-line mm-server-error" role="alert">
          {serverError}
        </div>
      ) : null}
      <div className="mm-form-buttons">
        <button type="button" className="jp-mod-styled mm-button" disabled={step === 0} onClick={() => setStep(step - 1)}>
          Back
        </button>
        <button type="button" className="jp-mod-styled mm-button" disabled={step === 1} onClick={() => setStep(step + 1)}>
          Next
        </button>
        <span className="mm-spacer" />
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept mm-button mm-submit-evaluate"
          disabled={!valid || busy}
          onClick={() => void submit()}
        >
          Evaluate
        </button>
      </div>
    </form>
  );
}

/**
 * The Train form: 1 Data & Instructions, 2 Model Configuration, 3 Service Settings.
 * "Train" trains the chosen version as stored; "Create & Train" makes a new version from the form.
 */

import { Notification } from '@jupyterlab/apputils';
import * as React from 'react';

import type { IMMContext } from '../context';
import {
  changedKeys,
  configText,
  newKey,
  parseConfigForm,
  parseLabels,
  parseService,
  serviceTexts
} from '../forms';
import type {
  IDataset,
  IDatasetDetail,
  IDefaults,
  IMeta,
  IModelDetail,
  ISelection,
  ServiceSettings
} from '../types';
import { Field } from './common';
import { ConfigFields, ServiceFields, Steps } from './Fields';
import { SecretFields } from './SecretFields';
import { SubsetPicker } from './SubsetPicker';

type Role = 'train' | 'validation';

export function TrainForm(props: {
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
  const [versionId, setVersionId] = React.useState<string>(props.snapshotId ?? '');
  const [datasetId, setDatasetId] = React.useState<string>('');
  const [name, setName] = React.useState('');
  const [labels, setLabels] = React.useState('');
  const [subsets, setSubsets] = React.useState<Record<Role, ISelection | null>>({ train: null, validation: null });
  const [subsetErrors, setSubsetErrors] = React.useState<Record<Role, string>>({ train: '', validation: '' });
  const [configTexts, setConfigTexts] = React.useState<Record<string, string | boolean>>({});
  const [service, setService] = React.useState<Record<keyof ServiceSettings, string> | null>(null);
  const [secretNames, setSecretNames] = React.useState<string[]>([]);
  const [base, setBase] = React.useState<IDefaults | null>(null);
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
        setService(serviceTexts(m.service_defaults, 'train', detail.services.train ?? null));
      })
      .catch(err => setLoadError(String(err.message ?? err)));
  }, [props.modelId]);

  // Starting values for the chosen version and dataset (the "predefined filters" rule on the server).
  const applyDefaults = (d: IDefaults, keepConfig: boolean) => {
    setBase(d);
    setDatasetId(d.dataset_id ?? '');
    setSubsets({ train: d.subsets.train, validation: d.subsets.validation });
    setLabels(d.labels.join(', '));
    if (!keepConfig && model?.config_schema) {
      const texts: Record<string, string | boolean> = {};
      for (const f of model.config_schema) {
        const v = f.name in d.config ? d.config[f.name] : f.default;
        texts[f.name] = f.type === 'boolean' ? Boolean(v) : configText(f, v);
      }
      setConfigTexts(texts);
    }
  };

  React.useEffect(() => {
    if (!model) {
      return;
    }
    ctx.api
      .defaults(model.id, null, versionId || null)
      .then(d => applyDefaults(d, false))
      .catch(err => setLoadError(String(err.message ?? err)));
  }, [model, versionId]);

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

  const fields = model?.config_schema ?? [];
  const config = parseConfigForm(fields, configTexts);
  const svc =
    service && meta
      ? parseService(service, meta.kernels, meta.on_reset, serviceTexts(meta.service_defaults, 'train', model?.services.train ?? null), meta.runners)
      : { values: {}, errors: {} };
  const dataErrors = [
    datasetId ? '' : 'choose a dataset',
    subsetErrors.train,
    subsetErrors.validation
  ].filter(Boolean);
  const steps = [
    { title: 'Data & Instructions', errors: dataErrors.length },
    { title: 'Model Configuration', errors: Object.keys(config.errors).length },
    { title: 'Service Settings', errors: Object.keys(svc.errors).length }
  ];
  const valid = steps.every(s => s.errors === 0) && !!model && !!service;
  const version = model?.snapshots.find(s => s.id === versionId) ?? null;
  const edited =
    !!base &&
    (datasetId !== (base.dataset_id ?? '') ||
      JSON.stringify(subsets) !== JSON.stringify({ train: base.subsets.train, validation: base.subsets.validation }) ||
      JSON.stringify(parseLabels(labels)) !== JSON.stringify(base.labels) ||
      changedKeys(config.values, { ...Object.fromEntries(fields.map(f => [f.name, f.default])), ...base.config }).length > 0);
  const canTrain = valid && !!version && !!version.dataset_id && !edited;

  const submit = async (create: boolean) => {
    if (!model || busy) {
      return;
    }
    setBusy(true);
    setServerError('');
    const body: Record<string, unknown> = { service: svc.values, idempotency_key: key.current };
    if (secretNames.length) {
      body.secrets = secretNames;
    }
    if (create) {
      body.create = {
        model: model.id,
        name: name.trim() || undefined,
        dataset: datasetId,
        labels: parseLabels(labels),
        train: subsets.train,
        validation: subsets.validation,
        config: config.values
      };
    } else {
      body.snapshot = versionId;
    }
    try {
      const result = await ctx.api.train(body);
      key.current = newKey();
      Notification.success(`Training ${result.execution.id} queued (${result.execution.name})`, { autoClose: 4000 });
      ctx.showTab('training');
      props.onDone();
    } catch (err: any) {
      const message = String(err.message ?? err);
      setServerError(message);
      Notification.error(message, { autoClose: 8000 });
      if (err.status && err.status < 500) {
        key.current = newKey(); // refused: a corrected submission is a new one
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
    <form className="mm-form mm-train-form" onSubmit={e => e.preventDefault()}>
      <h2>
        Train <span className="mm-form-model">{model.name}</span>
      </h2>
      {model.adapter_error ? <div className="mm-error-line">{model.adapter_error}</div> : null}
      <Steps steps={steps} current={step} onSelect={setStep} />
      <section className="mm-step-body" hidden={step !== 0} data-step-body={0}>
        <p className="mm-instructions">
          Choose the data this version learns from. Subsets are items tagged <code>train</code> /
          <code>validation</code>, a saved filter (a filter named <code>{model.name}.train</code> is the
          model's predefined one), or a folder. "Train" runs the chosen version as stored; any edit here
          makes "Create &amp; Train" save a new version first.
        </p>
        <Field label="Version" name="version">
          <select
            className="jp-mod-styled"
            aria-label="Version"
            value={versionId}
            onChange={e => setVersionId(e.target.value)}
          >
            <option value="">New version</option>
            {model.snapshots.map(s => (
              <option key={s.id} value={s.id}>
                {s.name} ({s.status})
              </option>
            ))}
          </select>
        </Field>
        <Field label="New version name" hint={`default ${model.name}-v${model.snapshots.length + 1}`} name="name">
          <input className="jp-mod-styled" aria-label="New version name" value={name} onChange={e => setName(e.target.value)} />
        </Field>
        <Field label="Dataset" error={datasetId ? '' : 'choose a dataset'} name="dataset">
          <select
            className="jp-mod-styled"
            aria-label="Dataset"
            value={datasetId}
            onChange={e => {
              const id = e.target.value;
              setDatasetId(id);
              if (id) {
                ctx.api
                  .defaults(model.id, id, versionId || null)
                  .then(d => {
                    setSubsets({ train: d.subsets.train, validation: d.subsets.validation });
                    setLabels(d.labels.join(', '));
                  })
                  .catch(() => undefined);
              }
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
        <Field label="Labels" hint="comma-separated; the model's predefined labels, else the dataset's" name="labels">
          <input className="jp-mod-styled" aria-label="Labels" value={labels} onChange={e => setLabels(e.target.value)} />
        </Field>
        {(['train', 'validation'] as Role[]).map(role => (
          <SubsetPicker
            key={role}
            api={ctx.api}
            role={role}
            label={role === 'train' ? 'Train subset' : 'Validation subset'}
            dataset={dataset}
            value={subsets[role]}
            required={true}
            onChange={sel => setSubsets(s => ({ ...s, [role]: sel }))}
            onCount={(_, err) => setSubsetErrors(s => (s[role] === err ? s : { ...s, [role]: err }))}
          />
        ))}
      </section>
      <section className="mm-step-body" hidden={step !== 1} data-step-body={1}>
        <ConfigFields
          fields={fields}
          texts={configTexts}
          errors={config.errors}
          onChange={(n, t) => setConfigTexts(c => ({ ...c, [n]: t }))}
        />
      </section>
      <section className="mm-step-body" hidden={step !== 2} data-step-body={2}>
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
          fromService={model.services.train?.secrets ?? []}
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
        <button type="button" className="jp-mod-styled mm-button" disabled={step === 2} onClick={() => setStep(step + 1)}>
          Next
        </button>
        <span className="mm-spacer" />
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept mm-button mm-submit-train"
          disabled={!canTrain || busy}
          title={
            !version
              ? 'choose an existing version to train it as stored'
              : edited
                ? 'the form differs from this version: use Create & Train'
                : 'train this version'
          }
          onClick={() => void submit(false)}
        >
          Train
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept mm-button mm-submit-create"
          disabled={!valid || busy}
          title={valid ? 'create a new version from this form and train it' : 'fix the marked fields first'}
          onClick={() => void submit(true)}
        >
          Create &amp; Train
        </button>
      </div>
    </form>
  );
}

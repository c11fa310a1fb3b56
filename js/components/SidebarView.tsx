/** The "Models" sidebar: tabs Versions, Training, Evaluation and Services, sharing one live hub. */

import * as React from 'react';

import type { IMMContext, TabName } from '../context';
import type { IHealth } from '../types';
import { ExecutionsTab } from './ExecutionsTab';
import { ServicesTab } from './ServicesTab';
import { VersionsTab } from './VersionsTab';

const TABS: { name: TabName; label: string }[] = [
  { name: 'versions', label: 'Versions' },
  { name: 'training', label: 'Training' },
  { name: 'evaluation', label: 'Evaluation' },
  { name: 'services', label: 'Services' }
];

export interface ITabRequest {
  tab: TabName;
  search?: string;
  /** Open this version's page (Versions tab). */
  version?: string;
  /** Filter the tab's executions by this service. */
  service?: string;
  nonce: number;
}

type Requested = { text: string; nonce: number };

export function SidebarView(props: { ctx: IMMContext; request: ITabRequest | null }): JSX.Element {
  const { ctx } = props;
  const [tab, setTab] = React.useState<TabName>('versions');
  const [health, setHealth] = React.useState<Record<string, IHealth>>({});
  const [searches, setSearches] = React.useState<Partial<Record<TabName, Requested>>>({});
  // what the tabs show, kept across tab switches: a version's page, a service filter per tab
  const [services, setServices] = React.useState<Partial<Record<TabName, string>>>({});
  const [version, setVersion] = React.useState<string | null>(null);

  React.useEffect(() => {
    const r = props.request;
    if (r) {
      setTab(r.tab);
      if (r.search !== undefined) {
        setSearches(s => ({ ...s, [r.tab]: { text: r.search!, nonce: r.nonce } }));
      }
      if (r.service !== undefined) {
        setServices(s => ({ ...s, [r.tab]: r.service }));
      }
      if (r.version !== undefined) {
        setVersion(r.version);
      }
    }
  }, [props.request?.nonce]);

  React.useEffect(() => {
    const load = () =>
      ctx.api
        .services()
        .then(items => setHealth(Object.fromEntries(items.map(s => [s.name, s.health]))))
        .catch(() => undefined);
    const onHealth = (_: unknown, h: Record<string, IHealth>) => setHealth(h);
    void load();
    ctx.hub.servicesChanged.connect(onHealth);
    ctx.hub.invalidated.connect(load);
    return () => {
      ctx.hub.servicesChanged.disconnect(onHealth);
      ctx.hub.invalidated.disconnect(load);
    };
  }, [ctx]);

  return (
    <div className="mm-sidebar-view">
      <div className="mm-header">Models</div>
      <div className="mm-tabs" role="tablist">
        {TABS.map(t => (
          <button
            key={t.name}
            role="tab"
            aria-selected={tab === t.name}
            className={`mm-tab${tab === t.name ? ' mm-tab-active' : ''}`}
            data-tab={t.name}
            onClick={() => setTab(t.name)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div className="mm-tab-body" role="tabpanel">
        {tab === 'versions' ? (
          <VersionsTab ctx={ctx} health={health} version={version} onVersion={setVersion} />
        ) : null}
        {tab === 'training' ? (
          <ExecutionsTab
            ctx={ctx}
            kind="train"
            health={health}
            search={searches.training}
            service={services.training ?? ''}
            onService={name => setServices(s => ({ ...s, training: name }))}
          />
        ) : null}
        {tab === 'evaluation' ? (
          <ExecutionsTab
            ctx={ctx}
            kind="evaluate"
            health={health}
            search={searches.evaluation}
            service={services.evaluation ?? ''}
            onService={name => setServices(s => ({ ...s, evaluation: name }))}
          />
        ) : null}
        {tab === 'services' ? <ServicesTab ctx={ctx} /> : null}
      </div>
    </div>
  );
}

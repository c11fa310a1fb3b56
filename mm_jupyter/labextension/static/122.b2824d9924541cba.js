"use strict";(self.rspackChunkmm_jupyter=self.rspackChunkmm_jupyter||[]).push([[122],{461(e,r,o){var t=o(601),a=o.n(t),i=o(314),n=(o.n(i))()(a());n.push([e.id,`/* Compare: the sidebar's selection (a checkbox per row, "Compare (n)") and the main-area panel. */

/* a narrow column: the default sidebar (~250 px) keeps every header and fact of the table whole */
.mm-table .mm-col-select {
  padding: 0 0 0 1px;
  width: 16px;
}

.mm-table .mm-col-select + .mm-col-name {
  padding-left: 3px;
}

.mm-col-select .mm-select {
  cursor: pointer;
  height: 13px;
  margin: 0;
  vertical-align: middle;
  width: 13px;
}

.mm-compare-bar {
  align-items: center;
  display: flex;
  gap: 6px;
  margin-bottom: 6px;
  min-width: 0;
}

.mm-compare-bar .mm-compare-button {
  flex: none;
  margin-left: 0;
}

.mm-compare-hint {
  min-width: 0;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

/* the panel */

.mm-CompareBody {
  overflow: auto;
}

.mm-compare {
  container-type: inline-size;
  padding: 12px 20px;
}

.mm-compare-head {
  align-items: center;
  display: flex;
  gap: 8px;
}

.mm-compare-head h2 {
  margin: 0;
}

.mm-compare-columns {
  display: flex;
  flex-wrap: wrap;
  gap: 4px 16px;
  list-style: none;
  margin: 8px 0;
  padding: 0;
}

.mm-compare-column {
  align-items: center;
  display: flex;
  gap: 6px;
  min-width: 0;
}

.mm-compare-label {
  font-weight: 600;
  overflow-wrap: anywhere;
}

.mm-compare-swatch {
  border-radius: 2px;
  display: inline-block;
  flex: none;
  height: 10px;
  margin-right: 4px;
  width: 10px;
}

.mm-compare-note,
.mm-compare-reason {
  background: var(--jp-layout-color2);
  border-left: 3px solid var(--jp-warn-color1, #f57c00);
  margin: 6px 0;
  padding: 6px 10px;
}

.mm-compare-section h3 {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  font-size: var(--jp-ui-font-size2);
  font-weight: 500;
  margin: 16px 0 6px;
}

.mm-compare-charts {
  display: grid;
  gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
}

.mm-compare-chart {
  min-width: 0;
  overflow: hidden;
}

.mm-compare-canvas {
  min-width: 0;
  width: 100%;
}

.mm-compare-canvas .u-legend {
  font-size: var(--jp-ui-font-size0);
  text-align: left;
}

.mm-compare-scroll {
  max-width: 100%;
  overflow-x: auto;
}

.mm-compare-table {
  border-collapse: collapse;
  font-size: var(--jp-ui-font-size1);
}

.mm-compare-table th,
.mm-compare-table td {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  padding: 3px 8px;
  text-align: left;
  vertical-align: top;
}

.mm-compare-table thead th {
  font-weight: 600;
  white-space: nowrap;
}

.mm-compare-table tbody th {
  font-weight: 500;
  overflow-wrap: anywhere;
}

.mm-compare-best {
  background: color-mix(in srgb, var(--jp-success-color1, #388e3c) 12%, transparent);
}

.mm-compare-best-mark {
  color: var(--jp-success-color1, #388e3c);
  margin-left: 4px;
}

.mm-compare-absent {
  color: var(--jp-ui-font-color2);
  font-style: italic;
}

.mm-compare-config td {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  max-width: 320px;
  overflow-wrap: anywhere;
}

.mm-compare-controls {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 6px 12px;
  margin-bottom: 6px;
}

.mm-compare-controls select {
  max-width: 200px;
}

.mm-compare-whole th,
.mm-compare-whole td {
  background: var(--jp-layout-color2);
  font-weight: 600;
}

.mm-compare-significant {
  font-weight: 600;
}

.mm-compare-sig-mark {
  color: var(--jp-warn-color1, #f57c00);
}

/* a narrow main area: tighter cells, so the tables keep their columns in view */
@container (max-width: 760px) {
  .mm-compare-table th,
  .mm-compare-table td {
    padding: 3px 4px;
  }

  .mm-compare-charts {
    grid-template-columns: 1fr;
  }
}

/* a sort header is a button big enough to hit, even for a one-letter column ("n", "Δ") */
.mm-compare-sort {
  min-height: 18px;
  min-width: 24px;
  text-align: left;
}
`,""]),o.d(r,{},{A:n})},980(e,r,o){var t=o(601),a=o.n(t),i=o(314),n=(o.n(i))()(a());n.push([e.id,`/* The evaluation view in an evaluate execution's panel (components/EvaluationView.tsx). */

.mm-eval {
  container-type: inline-size;
  min-width: 0;
}

.mm-eval-section {
  margin: 14px 0 6px;
  min-width: 0;
}

.mm-eval-section > h3 {
  margin: 0 0 6px;
}

.mm-eval-message {
  background: var(--jp-layout-color2);
  border-left: 3px solid var(--jp-warn-color1);
  margin: 10px 0;
  padding: 8px 10px;
}

.mm-eval-notes {
  list-style: none;
  margin: 6px 0;
  padding: 0;
}

.mm-eval-note {
  border-left: 3px solid var(--jp-info-color1, #0097a7);
  color: var(--jp-ui-font-color1);
  margin: 3px 0;
  padding: 3px 8px;
}

.mm-eval .mm-num {
  font-variant-numeric: tabular-nums;
  text-align: right;
  white-space: nowrap;
}

/* headline */

.mm-eval-cards {
  display: flex;
  flex-wrap: wrap;
  gap: 8px;
}

.mm-eval-card {
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 4px;
  min-width: 120px;
  padding: 6px 10px;
}

.mm-eval-card-name {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.mm-eval-card-value {
  font-size: 20px;
  font-variant-numeric: tabular-nums;
  font-weight: 600;
}

.mm-eval-card-ci {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
  font-variant-numeric: tabular-nums;
}

.mm-eval-facts {
  margin: 6px 0 0;
}

/* controls and tables */

.mm-eval-controls {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 6px 14px;
  margin: 4px 0 6px;
}

.mm-eval-controls label {
  align-items: center;
  display: inline-flex;
  gap: 4px;
  white-space: nowrap;
}

.mm-eval-controls select {
  max-width: 220px;
}

.mm-eval-scroll {
  max-width: 100%;
  overflow-x: auto;
}

.mm-eval-table {
  border-collapse: collapse;
  font-size: var(--jp-ui-font-size1);
}

.mm-eval-table th,
.mm-eval-table td {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  padding: 3px 6px;
  vertical-align: top;
}

.mm-eval-table th {
  font-weight: 600;
  text-align: left;
  white-space: nowrap;
}

.mm-eval-sort {
  background: none;
  border: none;
  color: inherit;
  cursor: pointer;
  font: inherit;
  font-weight: 600;
  padding: 0;
  white-space: nowrap;
}

.mm-eval-sort-mark {
  color: var(--jp-brand-color1);
}

.mm-eval-link {
  background: none;
  border: none;
  color: var(--jp-content-link-color);
  cursor: pointer;
  font: inherit;
  padding: 0;
  text-align: left;
}

.mm-eval-link:hover {
  text-decoration: underline;
}

.mm-eval-slice-name {
  max-width: 320px;
  overflow-wrap: anywhere;
}

.mm-eval-ci {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.mm-eval-whole td {
  background: var(--jp-layout-color2);
  font-weight: 600;
}

.mm-eval-worse td {
  background: color-mix(in srgb, var(--jp-error-color1, #d32f2f) 7%, transparent);
}

.mm-eval-worse-cell .mm-eval-value,
.mm-eval-worse-cell {
  color: var(--jp-error-color1, #d32f2f);
}

.mm-eval-flag {
  background: var(--jp-error-color1, #d32f2f);
  border-radius: 3px;
  color: #fff;
  font-size: var(--jp-ui-font-size0);
  margin-left: 6px;
  padding: 0 4px;
  white-space: nowrap;
}

.mm-eval-negative {
  color: var(--jp-ui-font-color1);
}

.mm-eval-more {
  margin-top: 6px;
}

/* a narrow main area: intervals under their values, so the table keeps its columns in view */
@container (max-width: 760px) {
  .mm-eval-metric .mm-eval-ci,
  .mm-eval-delta .mm-eval-ci {
    display: block;
  }

  .mm-eval-slice-name {
    max-width: 150px;
    min-width: 110px;
  }

  .mm-eval-table th,
  .mm-eval-table td {
    padding: 3px 4px;
  }
}

/* PR curves */

.mm-eval-pr-chart {
  max-width: 720px;
  width: 100%;
}

.mm-eval-pr-chart .u-legend {
  font-size: var(--jp-ui-font-size0);
  text-align: left;
}

.mm-eval-pr-chart .u-legend .u-series {
  cursor: pointer;
}

/* confusion matrix */

.mm-eval-cm {
  border-collapse: separate;
  border-spacing: 2px;
}

.mm-eval-cm th {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
  font-weight: 600;
  max-width: 90px;
  overflow: hidden;
  padding: 2px 4px;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-eval-cm-true {
  text-align: right;
}

.mm-eval-cm td {
  padding: 0;
}

.mm-eval-cm-cell {
  border: 1px solid transparent;
  border-radius: 2px;
  color: var(--jp-ui-font-color1);
  cursor: pointer;
  font: inherit;
  font-variant-numeric: tabular-nums;
  height: 32px;
  min-width: 44px;
  width: 100%;
}

.mm-eval-cm-cell:disabled {
  cursor: default;
  opacity: 0.6;
}

.mm-eval-cm-cell.mm-active {
  border-color: var(--jp-brand-color1);
  box-shadow: 0 0 0 1px var(--jp-brand-color1);
}

/* the gallery */

.mm-eval-chip {
  align-items: center;
  background: var(--jp-layout-color2);
  border-radius: 10px;
  display: inline-flex;
  gap: 4px;
  padding: 1px 4px 1px 8px;
  white-space: nowrap;
}

.mm-eval-chip-clear {
  background: none;
  border: none;
  color: inherit;
  cursor: pointer;
  font-size: 14px;
  padding: 0 4px;
}

.mm-eval-pager {
  align-items: center;
  display: inline-flex;
  gap: 6px;
  white-space: nowrap;
}

.mm-eval-legend {
  align-items: center;
  display: flex;
  gap: 4px;
  margin-bottom: 4px;
}

.mm-eval-swatch {
  display: inline-block;
  height: 0;
  margin-left: 8px;
  width: 16px;
}

.mm-eval-swatch-gt {
  border-top: 2px solid #2e7d32;
}

.mm-eval-swatch-pred {
  border-top: 2px dashed #ef6c00;
}

.mm-eval-grid {
  display: grid;
  gap: 8px;
  grid-template-columns: repeat(auto-fill, minmax(140px, 1fr));
}

.mm-eval-grid[data-loading='1'] {
  opacity: 0.6;
}

.mm-eval-thumb {
  background: var(--jp-layout-color1);
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 4px;
  color: inherit;
  cursor: pointer;
  display: flex;
  flex-direction: column;
  font: inherit;
  gap: 4px;
  min-width: 0;
  padding: 4px;
  text-align: left;
}

.mm-eval-thumb:hover,
.mm-eval-thumb:focus-visible {
  border-color: var(--jp-brand-color1);
}

.mm-eval-frame {
  aspect-ratio: 1 / 1;
  background: var(--jp-layout-color3);
  display: block;
  position: relative;
  width: 100%;
}

.mm-eval-frame img,
.mm-eval-frame svg {
  height: 100%;
  left: 0;
  object-fit: contain;
  position: absolute;
  top: 0;
  width: 100%;
}

.mm-eval-frame-large {
  margin: 8px auto;
  max-height: 70vh;
  max-width: min(100%, calc(70vh * 1.6));
}

.mm-eval-missing {
  align-items: center;
  color: var(--jp-error-color1, #d32f2f);
  display: flex;
  font-size: var(--jp-ui-font-size0);
  inset: 0;
  justify-content: center;
  padding: 6px;
  position: absolute;
  text-align: center;
}

.mm-eval-boxes rect {
  fill: none;
  stroke-width: 2px;
}

.mm-eval-boxes text {
  font-family: sans-serif;
  paint-order: stroke;
  stroke: rgba(0, 0, 0, 0.65);
  stroke-width: 0.6px;
}

.mm-eval-gt rect {
  stroke: #43a047;
}

.mm-eval-gt text {
  fill: #a5d6a7;
}

.mm-eval-pred rect {
  stroke: #ef6c00;
  stroke-dasharray: 5 3;
}

.mm-eval-pred text {
  fill: #ffcc80;
}

.mm-eval-caption {
  display: flex;
  flex-direction: column;
  font-size: var(--jp-ui-font-size0);
  min-width: 0;
}

.mm-eval-name {
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-eval-wrong {
  color: var(--jp-error-color1, #d32f2f);
}

.mm-eval-right {
  color: var(--jp-success-color1, #388e3c);
}

.mm-eval-large {
  align-items: center;
  background: rgba(0, 0, 0, 0.55);
  display: flex;
  inset: 0;
  justify-content: center;
  position: fixed;
  z-index: 1000;
}

.mm-eval-large-box {
  background: var(--jp-layout-color1);
  border-radius: 6px;
  box-shadow: 0 4px 24px rgba(0, 0, 0, 0.4);
  max-height: 92vh;
  max-width: min(92vw, 1000px);
  overflow: auto;
  padding: 10px 14px;
  width: 92vw;
}

.mm-eval-large-head {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 8px;
}

.mm-eval-large-facts {
  margin: 4px 0;
}

/* the slice name stays in view while a wide table scrolls sideways */
.mm-eval-slice-table th:first-child,
.mm-eval-slice-table td:first-child {
  background: var(--jp-layout-color1);
  left: 0;
  position: sticky;
  z-index: 1;
}

.mm-eval-slice-table .mm-eval-whole td:first-child {
  background: var(--jp-layout-color2);
}

.mm-eval-slice-table .mm-eval-worse td:first-child {
  background:
    linear-gradient(
      color-mix(in srgb, var(--jp-error-color1, #d32f2f) 7%, transparent),
      color-mix(in srgb, var(--jp-error-color1, #d32f2f) 7%, transparent)
    ),
    var(--jp-layout-color1);
}
`,""]),o.d(r,{},{A:n})},932(e,r,o){var t=o(601),a=o.n(t),i=o(314),n=o.n(i),m=o(980),l=o(461),p=o(316),s=n()(a());s.i(m.A),s.i(l.A),s.i(p.A),s.push([e.id,`/* mm-jupyter sidebar, forms and execution panels; colours from JupyterLab's theme variables. */

.mm-Sidebar {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  overflow: hidden;
}

.mm-sidebar-view {
  display: flex;
  flex-direction: column;
  height: 100%;
}

.mm-header {
  font-weight: 600;
  text-transform: uppercase;
  font-size: var(--jp-ui-font-size0);
  letter-spacing: 1px;
  padding: 8px 12px 4px;
  color: var(--jp-ui-font-color1);
}

.mm-tabs {
  display: flex;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  padding: 0 8px;
}

.mm-tab {
  background: none;
  border: none;
  border-bottom: 2px solid transparent;
  color: var(--jp-ui-font-color2);
  cursor: pointer;
  font-size: var(--jp-ui-font-size1);
  padding: 6px 10px;
}

.mm-tab-active {
  border-bottom-color: var(--jp-brand-color1);
  color: var(--jp-ui-font-color0);
  font-weight: 600;
}

.mm-tab-body {
  flex: 1;
  overflow-x: hidden;
  overflow-y: auto;
  padding: 6px 8px;
}

.mm-toolbar {
  align-items: center;
  display: flex;
  gap: 6px;
  margin-bottom: 6px;
}

.mm-toolbar-title {
  flex: 1;
  font-weight: 600;
}

.mm-search {
  flex: 1;
  min-width: 0;
}

.mm-status-filter {
  max-width: 120px;
}

.mm-icon-button,
.mm-health,
.mm-link {
  align-items: center;
  background: none;
  border: none;
  cursor: pointer;
  display: inline-flex;
  padding: 2px;
}

.mm-link {
  color: var(--jp-content-link-color);
  font-size: var(--jp-ui-font-size0);
  white-space: nowrap;
}

.mm-icon-button:hover {
  background: var(--jp-layout-color2);
}

.mm-button {
  cursor: pointer;
  font-size: var(--jp-ui-font-size1);
  padding: 2px 10px;
  margin-left: 2px;
}

.mm-small {
  font-size: var(--jp-ui-font-size0);
  padding: 1px 6px;
}

.mm-button:disabled {
  cursor: default;
  opacity: 0.5;
}

.mm-table {
  border-collapse: collapse;
  table-layout: fixed;
  width: 100%;
}

.mm-table td,
.mm-table th {
  overflow: hidden;
  text-overflow: ellipsis;
}

.mm-executions {
  container-type: inline-size;
}

.mm-executions th.mm-col-state {
  width: 118px;
}

.mm-executions .mm-col-name .mm-name {
  overflow-wrap: anywhere;
  white-space: normal;
}

.mm-executions .mm-service-wide {
  display: none;
}

@container (min-width: 380px) {
  .mm-executions .mm-service-wide {
    display: inline;
    overflow: hidden;
    text-overflow: ellipsis;
  }

  .mm-executions th.mm-col-state {
    width: 150px;
  }
}

.mm-state-line,
.mm-progress-line {
  align-items: center;
  display: flex;
  gap: 4px;
  white-space: nowrap;
}

.mm-progress-line {
  margin-top: 2px;
}

.mm-progress-line .mm-progress {
  flex: 1 1 auto;
}

.mm-progress-line .mm-duration {
  flex: 0 0 auto;
}

.mm-th-inline {
  display: inline;
  margin-left: 4px;
}

.mm-row:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: -2px;
}

.mm-snapshot-line {
  align-items: center;
  display: flex;
  gap: 6px;
  min-width: 0;
}

.mm-snapshot-line .mm-name {
  min-width: 0;
}

.mm-table th {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color1);
  color: var(--jp-ui-font-color2);
  font-weight: 600;
  padding: 4px;
  text-align: left;
  white-space: nowrap;
}

.mm-th {
  display: block;
}

.mm-sortable {
  cursor: pointer;
}



.mm-created,
.mm-duration {
  align-items: center;
  display: flex;
  gap: 2px;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-table .mm-col-menu {
  padding: 0;
  width: 22px;
}

.mm-table td {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color3);
  padding: 4px;
  vertical-align: middle;
}

.mm-row {
  cursor: pointer;
}

.mm-row:hover,
.mm-snapshot:hover {
  background: var(--jp-layout-color2);
}

.mm-name {
  font-weight: 500;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-sub {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.mm-col-created,
.mm-col-duration {
  white-space: nowrap;
}



.mm-table .mm-col-actions {
  text-align: right;
  white-space: nowrap;
  width: 88px;
}

.mm-col-actions .mm-button {
  display: block;
  margin: 1px 0 1px auto;
  padding: 1px 4px;
  width: 84px;
}

.mm-status {
  border-radius: 8px;
  display: inline-block;
  font-size: var(--jp-ui-font-size0);
  padding: 1px 7px;
  white-space: nowrap;
  background: var(--jp-layout-color3);
  color: var(--jp-ui-font-color1);
}

.mm-status-success,
.mm-status-trained {
  background: #e3f4e6;
  color: #1b5e20;
}

.mm-status-failed,
.mm-status-aborted {
  background: #fde7e9;
  color: #b71c1c;
}

.mm-status-terminated {
  background: #eceff1;
  color: #455a64;
}

.mm-status-in-progress {
  background: #e3effd;
  color: #0d47a1;
}

.mm-status-pending,
.mm-status-created,
.mm-status-rerun {
  background: #fff4e0;
  color: #8a5300;
}

.mm-progress {
  background: var(--jp-layout-color3);
  border-radius: 3px;
  height: 14px;
  min-width: 40px;
  overflow: hidden;
  position: relative;
}

.mm-progress-fill {
  background: var(--jp-brand-color1);
  height: 100%;
  transition: width 0.4s ease;
}

.mm-progress-success .mm-progress-fill {
  background: var(--jp-success-color1);
}

.mm-progress-failed .mm-progress-fill,
.mm-progress-aborted .mm-progress-fill {
  background: var(--jp-error-color1);
}

.mm-progress-text {
  color: var(--jp-ui-font-color0);
  font-size: 10px;
  left: 0;
  line-height: 14px;
  position: absolute;
  right: 0;
  text-align: center;
  top: 0;
}

.mm-banner {
  align-items: center;
  border-radius: 3px;
  display: flex;
  font-size: var(--jp-ui-font-size0);
  gap: 6px;
  margin-bottom: 4px;
  padding: 3px 6px;
}

.mm-banner-warning {
  background: var(--jp-warn-color3);
}

.mm-banner-error {
  background: var(--jp-error-color3);
}

.mm-banner-text {
  flex: 1;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-banner a {
  color: var(--jp-content-link-color);
}

.mm-error-line {
  color: var(--jp-error-color1);
  padding: 4px 0;
}

.mm-empty {
  color: var(--jp-ui-font-color2);
  padding: 10px 4px;
}

.mm-pager {
  align-items: center;
  display: flex;
  gap: 8px;
  justify-content: center;
  padding: 6px;
}

.mm-model {
  margin-bottom: 10px;
}

.mm-model-head {
  align-items: center;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  cursor: pointer;
  display: flex;
  gap: 6px;
  padding: 4px 0;
}

.mm-model-name {
  font-weight: 600;
}

.mm-spacer {
  flex: 1;
}

/* forms */

.mm-form {
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  max-width: 780px;
  padding: 16px 24px;
}

.mm-form h2,
.mm-execution h2 {
  font-size: var(--jp-ui-font-size3);
  font-weight: 500;
  margin: 0 0 10px;
}

.mm-steps {
  display: flex;
  gap: 4px;
  list-style: none;
  margin: 0 0 12px;
  padding: 0;
}

.mm-step {
  align-items: center;
  background: var(--jp-layout-color2);
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 3px;
  cursor: pointer;
  display: flex;
  gap: 6px;
  padding: 4px 10px;
}

.mm-step-active {
  background: var(--jp-brand-color3);
  border-color: var(--jp-brand-color1);
  font-weight: 600;
}

.mm-step-number {
  background: var(--jp-layout-color4);
  border-radius: 50%;
  color: var(--jp-ui-inverse-font-color1);
  display: inline-block;
  font-size: 10px;
  height: 16px;
  line-height: 16px;
  text-align: center;
  width: 16px;
}

.mm-step-active .mm-step-number {
  background: var(--jp-brand-color1);
}

.mm-step-errors {
  background: var(--jp-error-color1);
  border-radius: 8px;
  color: white;
  font-size: 10px;
  padding: 0 5px;
}

.mm-instructions {
  color: var(--jp-ui-font-color2);
  margin: 0 0 10px;
}

.mm-field,
.mm-subset {
  display: grid;
  gap: 2px 10px;
  grid-template-columns: 190px 1fr;
  margin-bottom: 8px;
}

.mm-field-label {
  align-self: center;
  color: var(--jp-ui-font-color1);
}

.mm-field-input input:not([type='checkbox']),
.mm-field-input select {
  box-sizing: border-box;
  width: 100%;
}

.mm-field-error,
.mm-field-hint,
.mm-field-help {
  font-size: var(--jp-ui-font-size0);
  grid-column: 2;
}

.mm-field-error {
  color: var(--jp-error-color1);
}

.mm-field-hint {
  color: var(--jp-ui-font-color2);
}

.mm-field-help {
  color: var(--jp-ui-font-color2);
  font-style: italic;
}

.mm-field-invalid input,
.mm-field-invalid select {
  border-color: var(--jp-error-color1) !important;
}

.mm-subset-inputs {
  align-items: center;
  display: flex;
  gap: 6px;
}

.mm-subset-value {
  flex: 1;
}

.mm-count {
  color: var(--jp-ui-font-color2);
  white-space: nowrap;
}

.mm-filter-json {
  background: var(--jp-layout-color2);
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  grid-column: 2;
  margin: 0;
  padding: 6px;
}

.mm-form-buttons {
  align-items: center;
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
  display: flex;
  gap: 6px;
  margin-top: 12px;
  padding-top: 10px;
}

/* execution panel */

.mm-ExecutionBody,
.mm-FormBody {
  overflow: auto;
}

.mm-execution {
  padding: 12px 20px;
}

.mm-execution-head {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 10px;
}

.mm-execution-head h2 {
  margin: 0;
}

.mm-execution-head .mm-progress {
  width: 160px;
}

.mm-facts {
  display: grid;
  gap: 2px 12px;
  grid-template-columns: max-content 1fr;
  margin: 10px 0;
}

.mm-facts dt {
  color: var(--jp-ui-font-color2);
}

.mm-facts dd {
  margin: 0;
}

.mm-error-text {
  color: var(--jp-error-color1);
}

.mm-execution h3 {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  font-size: var(--jp-ui-font-size2);
  font-weight: 500;
  margin: 14px 0 6px;
}

.mm-charts {
  display: grid;
  gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
}

.mm-chart {
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 3px;
  padding: 4px;
}

.mm-chart-title {
  font-weight: 600;
  padding-bottom: 2px;
}

.mm-last-values {
  display: flex;
  flex-wrap: wrap;
  gap: 12px;
  margin-top: 6px;
}

.mm-log {
  background: var(--jp-layout-color2);
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  max-height: 320px;
  overflow: auto;
  padding: 8px;
  white-space: pre-wrap;
  word-break: break-all;
}

.mm-events {
  font-size: var(--jp-ui-font-size0);
  list-style: none;
  margin: 0;
  padding: 0;
}

.mm-event-error {
  color: var(--jp-error-color1);
}

.mm-model-head > .mm-sub,
.mm-model-name {
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-model-name {
  flex: 0 1 auto;
  min-width: 40px;
}

.mm-model-head > .mm-sub {
  flex: 0 100 auto;
  min-width: 0;
}

.mm-model-head > button {
  flex: none;
}

/* the executed-notebook viewer's toolbar (read-only, no kernel) */
.mm-viewer-note {
  align-self: center;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size1);
  padding: 0 8px;
  white-space: nowrap;
}

.mm-col-state .mm-th.mm-sub {
  display: inline-block;
}

/* chips: tags, labels, the executions tab's service filter */

.mm-chips {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  margin: 2px 0 4px;
}

.mm-chip {
  align-items: center;
  background: var(--jp-layout-color2);
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 10px;
  display: inline-flex;
  gap: 2px;
  max-width: 100%;
  min-width: 0;
  padding: 1px 4px 1px 8px;
}

.mm-chip-small {
  font-size: var(--jp-ui-font-size0);
  padding: 0 6px;
}

.mm-chip-text {
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-chip-remove {
  background: none;
  border: none;
  border-radius: 50%;
  color: var(--jp-ui-font-color2);
  cursor: pointer;
  flex: none;
  font-size: 14px;
  height: 20px;
  line-height: 18px;
  min-width: 20px;
  padding: 0;
}

.mm-chip-remove:hover,
.mm-chip-remove:focus-visible {
  background: var(--jp-layout-color3);
  color: var(--jp-ui-font-color0);
}

.mm-service-chip {
  font-size: var(--jp-ui-font-size0);
}

.mm-row-tags {
  margin: 2px 0 0;
}

.mm-snapshot {
  cursor: pointer;
}

.mm-snapshot:focus-visible,
.mm-version-exe:focus-visible,
.mm-sortable:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: -2px;
}

/* four tabs in the default sidebar (250 px): small type, tight padding; cut with an ellipsis only
   when the sidebar is made narrower still */
.mm-tabs {
  padding: 0 2px;
}

.mm-tabs .mm-tab {
  flex: 1 1 auto;
  font-size: var(--jp-ui-font-size0);
  min-width: 0;
  overflow: hidden;
  padding: 6px 3px;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-link.mm-service-link,
.mm-link.mm-version-link {
  font-size: inherit;
  max-width: 100%;
  overflow: hidden;
  padding: 0;
  text-overflow: ellipsis;
  vertical-align: baseline;
}

.mm-link:hover {
  text-decoration: underline;
}

/* the version page */

.mm-version-page {
  container-type: inline-size;
}

.mm-version-head {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 6px;
}

.mm-version-head h2 {
  font-size: var(--jp-ui-font-size2);
  font-weight: 600;
  margin: 2px 0;
  min-width: 0;
  overflow-wrap: anywhere;
}

.mm-version-actions,
.mm-service-buttons {
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  margin: 4px 0;
}

.mm-version-actions .mm-button,
.mm-service-buttons .mm-button {
  margin-left: 0;
}

.mm-version-facts {
  gap: 2px 8px;
  margin: 6px 0;
}

.mm-version-facts dd,
.mm-service-settings dd {
  min-width: 0;
  overflow-wrap: anywhere;
}

.mm-children {
  display: flex;
  flex-wrap: wrap;
  gap: 2px 8px;
}

.mm-section h3,
.mm-services h3 {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  font-size: var(--jp-ui-font-size1);
  font-weight: 600;
  margin: 12px 0 4px;
  padding-bottom: 2px;
}

.mm-inline-form {
  display: flex;
  gap: 4px;
}

.mm-inline-form input {
  flex: 1;
  min-width: 0;
}

.mm-notes {
  box-sizing: border-box;
  font-family: var(--jp-ui-font-family);
  min-height: 80px;
  resize: vertical;
  width: 100%;
}

.mm-notes-bar {
  align-items: center;
  display: flex;
  gap: 4px;
  margin-top: 2px;
}

.mm-notes-counter {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
  white-space: nowrap;
}

.mm-notes-counter.mm-over {
  color: var(--jp-error-color1);
  font-weight: 600;
}

.mm-weights-files {
  list-style: none;
  margin: 2px 0;
  padding: 0;
}

.mm-weights-files li {
  overflow-wrap: anywhere;
}

.mm-download {
  color: var(--jp-content-link-color);
}

.mm-version-executions {
  list-style: none;
  margin: 0;
  padding: 0;
}

.mm-version-exe {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color3);
  cursor: pointer;
  padding: 3px 2px;
}

.mm-version-exe:hover {
  background: var(--jp-layout-color2);
}

.mm-kv {
  border-collapse: collapse;
  table-layout: fixed;
  width: 100%;
}

.mm-kv th,
.mm-kv td {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color3);
  font-size: var(--jp-ui-font-size0);
  overflow-wrap: anywhere;
  padding: 2px 4px;
  text-align: left;
  vertical-align: top;
}

.mm-kv th {
  color: var(--jp-ui-font-color2);
  font-weight: 500;
  width: 40%;
}

.mm-banner-text-wrap {
  flex: 1;
  min-width: 0;
  overflow-wrap: anywhere;
}

/* the services panel */

.mm-service {
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 3px;
  margin-bottom: 8px;
  padding: 6px;
}

.mm-service-head {
  align-items: center;
  display: flex;
  gap: 6px;
  min-width: 0;
}

.mm-link.mm-service-name {
  font-size: var(--jp-ui-font-size1);
  font-weight: 600;
  overflow: hidden;
  padding: 0;
  text-overflow: ellipsis;
}

.mm-service-health {
  border-radius: 3px;
  font-size: var(--jp-ui-font-size0);
  margin: 4px 0;
  overflow-wrap: anywhere;
  padding: 2px 6px;
}

.mm-health-level {
  font-weight: 600;
}

.mm-level-ok {
  background: var(--jp-layout-color2);
}

.mm-level-warning {
  background: var(--jp-warn-color3);
}

.mm-level-error {
  background: var(--jp-error-color3);
}

.mm-service-counts {
  font-size: var(--jp-ui-font-size0);
}

.mm-service-settings {
  font-size: var(--jp-ui-font-size0);
  gap: 0 8px;
  margin: 4px 0;
}

.mm-service-form {
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
  margin-top: 4px;
  padding-top: 4px;
}

.mm-setting {
  align-items: center;
  display: grid;
  gap: 2px 6px;
  grid-template-columns: minmax(0, 40%) minmax(0, 1fr);
  margin-bottom: 3px;
}

.mm-setting-label {
  font-size: var(--jp-ui-font-size0);
}

.mm-setting input,
.mm-setting select {
  box-sizing: border-box;
  min-width: 0;
  width: 100%;
}

.mm-setting .mm-field-error {
  grid-column: 2;
}

/* compact buttons in the sidebar's version page and services panel (JupyterLab's are 32 px tall) */
.mm-version-page button.jp-mod-styled.mm-button,
.mm-services button.jp-mod-styled.mm-button {
  height: 24px;
  line-height: 24px;
  padding: 0 8px;
}
`,""]),o.d(r,{},{A:s})},316(e,r,o){var t=o(601),a=o.n(t),i=o(314),n=(o.n(i))()(a());n.push([e.id,`/* the version page's Try it and the deployments (version page and Services tab) */

.mm-tryit-upload-row {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 4px 8px;
  margin: 4px 0;
}

.mm-tryit-pick .mm-inline-form {
  margin-bottom: 4px;
}

.mm-tryit-pick select,
.mm-tryit-pick input {
  box-sizing: border-box;
  flex: 1;
  min-width: 0;
}

.mm-tryit-items {
  list-style: none;
  margin: 0;
  padding: 0;
}

.mm-tryit-item {
  background: none;
  border: none;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color3);
  box-sizing: border-box;
  color: var(--jp-ui-font-color1);
  cursor: pointer;
  display: block;
  font-size: var(--jp-ui-font-size1);
  min-height: 20px;
  overflow: hidden;
  padding: 2px 4px;
  text-align: left;
  text-overflow: ellipsis;
  white-space: nowrap;
  width: 100%;
}

.mm-tryit-item:hover:not(:disabled) {
  background: var(--jp-layout-color2);
}

.mm-tryit-item[aria-pressed='true'] {
  background: var(--jp-brand-color3);
}

.mm-tryit-item:disabled {
  cursor: progress;
}

.mm-tryit-pager {
  align-items: center;
  display: flex;
  gap: 6px;
  justify-content: flex-end;
  margin: 2px 0;
}

.mm-tryit-busy,
.mm-deploy-busy {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  padding: 4px 0;
}

.mm-spinner {
  animation: mm-spin 0.9s linear infinite;
  border: 2px solid var(--jp-border-color2);
  border-radius: 50%;
  border-top-color: var(--jp-brand-color1);
  box-sizing: border-box;
  display: inline-block;
  height: 12px;
  width: 12px;
}

@keyframes mm-spin {
  to {
    transform: rotate(360deg);
  }
}

.mm-tryit-result {
  margin-top: 6px;
}

.mm-tryit-source {
  margin-bottom: 4px;
  overflow-wrap: anywhere;
}

/* the image at its displayed size; boxes are placed in percent of it, so they scale with it */
.mm-tryit-frame {
  background: var(--jp-layout-color2);
  max-width: 100%;
  overflow: hidden;
  position: relative;
}

.mm-tryit-frame img {
  display: block;
  height: 100%;
  image-rendering: pixelated;
  width: 100%;
}

.mm-tryit-box {
  border: 2px solid #e65100;
  box-sizing: border-box;
  pointer-events: none;
  position: absolute;
}

.mm-tryit-box-label {
  background: #e65100;
  color: #fff;
  font-size: var(--jp-ui-font-size0);
  line-height: 1.3;
  max-width: 100%;
  overflow: hidden;
  padding: 0 3px;
  position: absolute;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-tryit-box-label.mm-above {
  bottom: 100%;
}

.mm-tryit-box-label.mm-inside {
  top: 0;
}

.mm-tryit-box-label.mm-left {
  left: -2px;
}

.mm-tryit-box-label.mm-right {
  right: -2px;
}

.mm-tryit-threshold {
  align-items: center;
  display: flex;
  font-size: var(--jp-ui-font-size0);
  gap: 6px;
  margin: 4px 0;
}

.mm-tryit-threshold input {
  flex: 1;
  min-width: 80px;
}

.mm-tryit-boxlist,
.mm-tryit-topk {
  font-size: var(--jp-ui-font-size0);
  margin: 2px 0;
  padding-left: 18px;
}

.mm-tryit-classification {
  align-items: flex-start;
  display: flex;
  flex-wrap: wrap;
  gap: 8px;
}

.mm-tryit-thumb {
  background: var(--jp-layout-color2);
  height: 96px;
  image-rendering: pixelated;
  object-fit: contain;
  width: 96px;
}

.mm-tryit-answer {
  flex: 1;
  min-width: 140px;
}

.mm-tryit-label {
  font-size: var(--jp-ui-font-size2);
  overflow-wrap: anywhere;
}

.mm-tryit-label .mm-tryit-class {
  font-weight: 600;
}

.mm-tryit-topk li {
  align-items: center;
  display: grid;
  gap: 6px;
  grid-template-columns: minmax(0, 1fr) 60px max-content;
}

.mm-tryit-topk-label {
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.mm-tryit-bar {
  background: var(--jp-layout-color3);
  display: block;
  height: 6px;
}

.mm-tryit-bar > span {
  background: var(--jp-brand-color1);
  display: block;
  height: 100%;
}

/* deployments (status colours doubled up: this file is imported before .mm-status's base rule) */

.mm-deploy-bar {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 4px 8px;
  margin: 4px 0;
}

.mm-deploy-bar .mm-button {
  margin-left: 0;
}

.mm-deployment {
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 3px;
  margin: 4px 0 8px;
  padding: 6px;
}

.mm-deployment-head {
  align-items: center;
  display: flex;
  flex-wrap: wrap;
  gap: 6px;
  min-width: 0;
}

.mm-deployment-id {
  font-weight: 600;
  overflow-wrap: anywhere;
}

.mm-deployment-of {
  margin-top: 2px;
  overflow-wrap: anywhere;
}

.mm-deployment-of .mm-version-link {
  white-space: normal;
}

.mm-level-none {
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color2);
}

.mm-deployments-all {
  margin-bottom: 4px;
}

.mm-status.mm-status-pre-trained,
.mm-status.mm-status-running {
  background: #e3f4e6;
  color: #1b5e20;
}

.mm-status.mm-status-deployed {
  background: #e8eaf6;
  color: #283593;
}

.mm-status.mm-status-starting,
.mm-status.mm-status-stopping {
  background: #fff4e0;
  color: #8a5300;
}

.mm-status.mm-status-stopped {
  background: #eceff1;
  color: #455a64;
}

/* compact inputs, like the page's 24 px buttons */
.mm-tryit-pick select.jp-mod-styled,
.mm-tryit-pick input.jp-mod-styled {
  font-size: var(--jp-ui-font-size1);
  height: 26px;
  line-height: 24px;
  padding: 0 6px;
}
`,""]),o.d(r,{},{A:n})},314(e){e.exports=function(e){var r=[];return r.toString=function(){return this.map(function(r){var o="",t=void 0!==r[5];return r[4]&&(o+="@supports (".concat(r[4],") {")),r[2]&&(o+="@media ".concat(r[2]," {")),t&&(o+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),o+=e(r),t&&(o+="}"),r[2]&&(o+="}"),r[4]&&(o+="}"),o}).join("")},r.i=function(e,o,t,a,i){"string"==typeof e&&(e=[[null,e,void 0]]);var n={};if(t)for(var m=0;m<this.length;m++){var l=this[m][0];null!=l&&(n[l]=!0)}for(var p=0;p<e.length;p++){var s=[].concat(e[p]);t&&n[s[0]]||(void 0!==i&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=i),o&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=o),a&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=a):s[4]="".concat(a)),r.push(s))}},r}},601(e){e.exports=function(e){return e[1]}},841(e,r,o){o.r(r);var t=o(72),a=o.n(t),i=o(825),n=o.n(i),m=o(659),l=o.n(m),p=o(56),s=o.n(p),d=o(540),c=o.n(d),f=o(113),x=o.n(f),g=o(932),v={};v.styleTagTransform=x(),v.setAttributes=s(),v.insert=l().bind(null,"head"),v.domAPI=n(),v.insertStyleElement=c(),a()(g.A,v);let u=g.A&&g.A.locals?g.A.locals:void 0;o.d(r,{},{default:u})},72(e){var r=[];function o(e){for(var o=-1,t=0;t<r.length;t++)if(r[t].identifier===e){o=t;break}return o}function t(e,t){for(var a={},i=[],n=0;n<e.length;n++){var m=e[n],l=t.base?m[0]+t.base:m[0],p=a[l]||0,s="".concat(l," ").concat(p);a[l]=p+1;var d=o(s),c={css:m[1],media:m[2],sourceMap:m[3],supports:m[4],layer:m[5]};if(-1!==d)r[d].references++,r[d].updater(c);else{var f=function(e,r){var o=r.domAPI(r);return o.update(e),function(r){r?(r.css!==e.css||r.media!==e.media||r.sourceMap!==e.sourceMap||r.supports!==e.supports||r.layer!==e.layer)&&o.update(e=r):o.remove()}}(c,t);t.byIndex=n,r.splice(n,0,{identifier:s,updater:f,references:1})}i.push(s)}return i}e.exports=function(e,a){var i=t(e=e||[],a=a||{});return function(e){e=e||[];for(var n=0;n<i.length;n++){var m=o(i[n]);r[m].references--}for(var l=t(e,a),p=0;p<i.length;p++){var s=o(i[p]);0===r[s].references&&(r[s].updater(),r.splice(s,1))}i=l}}},659(e){var r={};e.exports=function(e,o){var t=function(e){if(void 0===r[e]){var o=document.querySelector(e);if(window.HTMLIFrameElement&&o instanceof window.HTMLIFrameElement)try{o=o.contentDocument.head}catch(e){o=null}r[e]=o}return r[e]}(e);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(o)}},540(e){e.exports=function(e){var r=document.createElement("style");return e.setAttributes(r,e.attributes),e.insert(r,e.options),r}},56(e,r,o){e.exports=function(e){var r=o.nc;r&&e.setAttribute("nonce",r)}},825(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=e.insertStyleElement(e);return{update:function(o){var t,a,i;t="",o.supports&&(t+="@supports (".concat(o.supports,") {")),o.media&&(t+="@media ".concat(o.media," {")),(a=void 0!==o.layer)&&(t+="@layer".concat(o.layer.length>0?" ".concat(o.layer):""," {")),t+=o.css,a&&(t+="}"),o.media&&(t+="}"),o.supports&&(t+="}"),(i=o.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(i))))," */")),e.styleTagTransform(t,r,e.options)},remove:function(){var e;null===(e=r).parentNode||e.parentNode.removeChild(e)}}}},113(e){e.exports=function(e,r){if(r.styleSheet)r.styleSheet.cssText=e;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(e))}}}}]);
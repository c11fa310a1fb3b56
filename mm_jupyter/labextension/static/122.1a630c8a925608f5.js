"use strict";(self.rspackChunkmm_jupyter=self.rspackChunkmm_jupyter||[]).push([[122],{932(e,o,r){var t=r(601),a=r.n(t),n=r(314),i=(r.n(n))()(a());i.push([e.id,`/* mm-jupyter sidebar, forms and execution panels; colours from JupyterLab's theme variables. */

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
`,""]),r.d(o,{},{A:i})},314(e){e.exports=function(e){var o=[];return o.toString=function(){return this.map(function(o){var r="",t=void 0!==o[5];return o[4]&&(r+="@supports (".concat(o[4],") {")),o[2]&&(r+="@media ".concat(o[2]," {")),t&&(r+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),r+=e(o),t&&(r+="}"),o[2]&&(r+="}"),o[4]&&(r+="}"),r}).join("")},o.i=function(e,r,t,a,n){"string"==typeof e&&(e=[[null,e,void 0]]);var i={};if(t)for(var m=0;m<this.length;m++){var p=this[m][0];null!=p&&(i[p]=!0)}for(var l=0;l<e.length;l++){var s=[].concat(e[l]);t&&i[s[0]]||(void 0!==n&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=n),r&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=r),a&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=a):s[4]="".concat(a)),o.push(s))}},o}},601(e){e.exports=function(e){return e[1]}},841(e,o,r){r.r(o);var t=r(72),a=r.n(t),n=r(825),i=r.n(n),m=r(659),p=r.n(m),l=r(56),s=r.n(l),d=r(540),c=r.n(d),u=r(113),f=r.n(u),x=r(932),g={};g.styleTagTransform=f(),g.setAttributes=s(),g.insert=p().bind(null,"head"),g.domAPI=i(),g.insertStyleElement=c(),a()(x.A,g);let v=x.A&&x.A.locals?x.A.locals:void 0;r.d(o,{},{default:v})},72(e){var o=[];function r(e){for(var r=-1,t=0;t<o.length;t++)if(o[t].identifier===e){r=t;break}return r}function t(e,t){for(var a={},n=[],i=0;i<e.length;i++){var m=e[i],p=t.base?m[0]+t.base:m[0],l=a[p]||0,s="".concat(p," ").concat(l);a[p]=l+1;var d=r(s),c={css:m[1],media:m[2],sourceMap:m[3],supports:m[4],layer:m[5]};if(-1!==d)o[d].references++,o[d].updater(c);else{var u=function(e,o){var r=o.domAPI(o);return r.update(e),function(o){o?(o.css!==e.css||o.media!==e.media||o.sourceMap!==e.sourceMap||o.supports!==e.supports||o.layer!==e.layer)&&r.update(e=o):r.remove()}}(c,t);t.byIndex=i,o.splice(i,0,{identifier:s,updater:u,references:1})}n.push(s)}return n}e.exports=function(e,a){var n=t(e=e||[],a=a||{});return function(e){e=e||[];for(var i=0;i<n.length;i++){var m=r(n[i]);o[m].references--}for(var p=t(e,a),l=0;l<n.length;l++){var s=r(n[l]);0===o[s].references&&(o[s].updater(),o.splice(s,1))}n=p}}},659(e){var o={};e.exports=function(e,r){var t=function(e){if(void 0===o[e]){var r=document.querySelector(e);if(window.HTMLIFrameElement&&r instanceof window.HTMLIFrameElement)try{r=r.contentDocument.head}catch(e){r=null}o[e]=r}return o[e]}(e);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(r)}},540(e){e.exports=function(e){var o=document.createElement("style");return e.setAttributes(o,e.attributes),e.insert(o,e.options),o}},56(e,o,r){e.exports=function(e){var o=r.nc;o&&e.setAttribute("nonce",o)}},825(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=e.insertStyleElement(e);return{update:function(r){var t,a,n;t="",r.supports&&(t+="@supports (".concat(r.supports,") {")),r.media&&(t+="@media ".concat(r.media," {")),(a=void 0!==r.layer)&&(t+="@layer".concat(r.layer.length>0?" ".concat(r.layer):""," {")),t+=r.css,a&&(t+="}"),r.media&&(t+="}"),r.supports&&(t+="}"),(n=r.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),e.styleTagTransform(t,o,e.options)},remove:function(){var e;null===(e=o).parentNode||e.parentNode.removeChild(e)}}}},113(e){e.exports=function(e,o){if(o.styleSheet)o.styleSheet.cssText=e;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(e))}}}}]);
"use strict";(self.rspackChunkmm_jupyter=self.rspackChunkmm_jupyter||[]).push([[122],{932(o,r,e){var t=e(601),a=e.n(t),n=e(314),i=(e.n(n))()(a());i.push([o.id,`/* mm-jupyter sidebar, forms and execution panels; colours from JupyterLab's theme variables. */

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

.mm-executions th.mm-col-name {
  width: 40%;
}

.mm-executions th.mm-col-status {
  width: 32%;
}

.mm-executions th.mm-col-progress {
  width: 28%;
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



.mm-service,
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
.mm-field-hint {
  font-size: var(--jp-ui-font-size0);
  grid-column: 2;
}

.mm-field-error {
  color: var(--jp-error-color1);
}

.mm-field-hint {
  color: var(--jp-ui-font-color2);
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
`,""]),e.d(r,{},{A:i})},314(o){o.exports=function(o){var r=[];return r.toString=function(){return this.map(function(r){var e="",t=void 0!==r[5];return r[4]&&(e+="@supports (".concat(r[4],") {")),r[2]&&(e+="@media ".concat(r[2]," {")),t&&(e+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),e+=o(r),t&&(e+="}"),r[2]&&(e+="}"),r[4]&&(e+="}"),e}).join("")},r.i=function(o,e,t,a,n){"string"==typeof o&&(o=[[null,o,void 0]]);var i={};if(t)for(var m=0;m<this.length;m++){var p=this[m][0];null!=p&&(i[p]=!0)}for(var l=0;l<o.length;l++){var s=[].concat(o[l]);t&&i[s[0]]||(void 0!==n&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=n),e&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=e),a&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=a):s[4]="".concat(a)),r.push(s))}},r}},601(o){o.exports=function(o){return o[1]}},841(o,r,e){e.r(r);var t=e(72),a=e.n(t),n=e(825),i=e.n(n),m=e(659),p=e.n(m),l=e(56),s=e.n(l),d=e(540),c=e.n(d),u=e(113),f=e.n(u),x=e(932),g={};g.styleTagTransform=f(),g.setAttributes=s(),g.insert=p().bind(null,"head"),g.domAPI=i(),g.insertStyleElement=c(),a()(x.A,g);let v=x.A&&x.A.locals?x.A.locals:void 0;e.d(r,{},{default:v})},72(o){var r=[];function e(o){for(var e=-1,t=0;t<r.length;t++)if(r[t].identifier===o){e=t;break}return e}function t(o,t){for(var a={},n=[],i=0;i<o.length;i++){var m=o[i],p=t.base?m[0]+t.base:m[0],l=a[p]||0,s="".concat(p," ").concat(l);a[p]=l+1;var d=e(s),c={css:m[1],media:m[2],sourceMap:m[3],supports:m[4],layer:m[5]};if(-1!==d)r[d].references++,r[d].updater(c);else{var u=function(o,r){var e=r.domAPI(r);return e.update(o),function(r){r?(r.css!==o.css||r.media!==o.media||r.sourceMap!==o.sourceMap||r.supports!==o.supports||r.layer!==o.layer)&&e.update(o=r):e.remove()}}(c,t);t.byIndex=i,r.splice(i,0,{identifier:s,updater:u,references:1})}n.push(s)}return n}o.exports=function(o,a){var n=t(o=o||[],a=a||{});return function(o){o=o||[];for(var i=0;i<n.length;i++){var m=e(n[i]);r[m].references--}for(var p=t(o,a),l=0;l<n.length;l++){var s=e(n[l]);0===r[s].references&&(r[s].updater(),r.splice(s,1))}n=p}}},659(o){var r={};o.exports=function(o,e){var t=function(o){if(void 0===r[o]){var e=document.querySelector(o);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(o){e=null}r[o]=e}return r[o]}(o);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(e)}},540(o){o.exports=function(o){var r=document.createElement("style");return o.setAttributes(r,o.attributes),o.insert(r,o.options),r}},56(o,r,e){o.exports=function(o){var r=e.nc;r&&o.setAttribute("nonce",r)}},825(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=o.insertStyleElement(o);return{update:function(e){var t,a,n;t="",e.supports&&(t+="@supports (".concat(e.supports,") {")),e.media&&(t+="@media ".concat(e.media," {")),(a=void 0!==e.layer)&&(t+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),t+=e.css,a&&(t+="}"),e.media&&(t+="}"),e.supports&&(t+="}"),(n=e.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),o.styleTagTransform(t,r,o.options)},remove:function(){var o;null===(o=r).parentNode||o.parentNode.removeChild(o)}}}},113(o){o.exports=function(o,r){if(r.styleSheet)r.styleSheet.cssText=o;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(o))}}}}]);
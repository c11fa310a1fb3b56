/** The sidebar's own icons (JupyterLab's set has no warning triangle or model cube). */

import { LabIcon } from '@jupyterlab/ui-components';

export const modelsIcon = new LabIcon({
  name: 'mm-jupyter:models',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><g class="jp-icon3" fill="#616161">' +
    '<path d="M12 2 3 7v10l9 5 9-5V7l-9-5zm0 2.3 6.7 3.7L12 11.7 5.3 8 12 4.3zM5 9.7l6 3.3v6.6l-6-3.3V9.7zm8 9.9V13l6-3.3v6.6l-6 3.3z"/>' +
    '</g></svg>'
});

export const warningIcon = new LabIcon({
  name: 'mm-jupyter:warning',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><g class="jp-icon-warn0" fill="#f57c00">' +
    '<path d="M1 21h22L12 2 1 21zm12-3h-2v-2h2v2zm0-4h-2v-4h2v4z"/></g></svg>'
});

export const failIcon = new LabIcon({
  name: 'mm-jupyter:error',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><g class="jp-icon-error0" fill="#d32f2f">' +
    '<path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15h-2v-2h2v2zm0-4h-2V7h2v6z"/></g></svg>'
});

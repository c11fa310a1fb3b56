/** The Try it section's and the deployments' pure logic: boxes placed over a displayed image, the
 * score threshold, score text, a picked file's first check, and what a deployment allows. */

import type { IDeployment, IPredictedBox } from './types';

/** Where a box lies over its image, in percent of the image's width and height (so it scales with
 * whatever size the image is displayed at); clamped to the image, corners in either order. */
export interface IBoxPlace {
  left: number;
  top: number;
  width: number;
  height: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/** A box `[x1, y1, x2, y2]` in pixels of a `width` × `height` image → percent placement; null when
 * the image size is unknown or the box has no finite corners. */
export function boxPlace(box: readonly number[], width: number, height: number): IBoxPlace | null {
  if (!(width > 0) || !(height > 0) || box.length !== 4 || !box.every(Number.isFinite)) {
    return null;
  }
  const [x1, x2] = [clamp(Math.min(box[0], box[2]), 0, width), clamp(Math.max(box[0], box[2]), 0, width)];
  const [y1, y2] = [clamp(Math.min(box[1], box[3]), 0, height), clamp(Math.max(box[1], box[3]), 0, height)];
  return {
    left: (100 * x1) / width,
    top: (100 * y1) / height,
    width: (100 * (x2 - x1)) / width,
    height: (100 * (y2 - y1)) / height
  };
}

/** The same box in displayed pixels, for an image shown `shownWidth` × `shownHeight`. */
export function boxPixels(
  box: readonly number[],
  width: number,
  height: number,
  shownWidth: number,
  shownHeight: number
): IBoxPlace | null {
  const p = boxPlace(box, width, height);
  return p
    ? {
        left: (p.left * shownWidth) / 100,
        top: (p.top * shownHeight) / 100,
        width: (p.width * shownWidth) / 100,
        height: (p.height * shownHeight) / 100
      }
    : null;
}

/** Whether a box's label goes above it (room above) or inside its top edge (a box at the top). */
export function labelAbove(place: IBoxPlace, labelPercent = 8): boolean {
  return place.top >= labelPercent;
}

/** Boxes at or over the threshold, best first. */
export function visibleBoxes(boxes: IPredictedBox[], threshold: number): IPredictedBox[] {
  return boxes.filter(b => typeof b.score === 'number' && b.score >= threshold).sort((a, b) => b.score - a.score);
}

/** `0.93`; `–` for no score. */
export function formatScore(score: number | null | undefined): string {
  return typeof score === 'number' && Number.isFinite(score) ? score.toFixed(2) : '–';
}

/** `3 boxes` / `1 of 3 boxes at ≥ 0.50`. */
export function boxesSummary(shown: number, total: number, threshold: number): string {
  const noun = total === 1 ? 'box' : 'boxes';
  if (shown === total) {
    return `${total} ${noun}`;
  }
  return `${shown} of ${total} ${noun} at score ≥ ${threshold.toFixed(2)}`;
}

export const MAX_UPLOAD_BYTES = 32 * 1024 * 1024;

/** The first check of a picked file, before it is sent (the server checks its bytes): one line, or ''. */
export function uploadProblem(file: { name: string; size: number }): string {
  if (!file.size) {
    return `${file.name} is empty, not an image`;
  }
  if (file.size > MAX_UPLOAD_BYTES) {
    return `${file.name} is ${file.size.toLocaleString('en')} bytes: images of at most ${MAX_UPLOAD_BYTES.toLocaleString('en')} bytes are accepted`;
  }
  return '';
}

/** Deployments that hold the version (starting, running or stopping): Undeploy applies to them. */
export function isLive(dep: Pick<IDeployment, 'status'>): boolean {
  return dep.status === 'starting' || dep.status === 'running' || dep.status === 'stopping';
}

/** Why Deploy is not offered for a version ('' when it is): no weights, or already deployed. */
export function deployBlocker(trained: boolean, deployments: Pick<IDeployment, 'id' | 'status'>[]): string {
  if (!trained) {
    return 'no weights yet: train this version (or add pre-trained weights) first';
  }
  const live = deployments.find(isLive);
  return live ? `already deployed as ${live.id} (${live.status})` : '';
}

/** A deployment's health as one line: `ok`, `error: its process is gone`, `stopped`. */
export function deploymentHealthText(dep: Pick<IDeployment, 'status' | 'health' | 'error'>): {
  level: 'ok' | 'warning' | 'error' | 'none';
  text: string;
} {
  const h = dep.health;
  if (!h) {
    return { level: 'none', text: dep.status === 'failed' && dep.error ? `failed: ${dep.error}` : dep.status };
  }
  return { level: h.level, text: h.reason ? `${h.level}: ${h.reason}` : h.level };
}

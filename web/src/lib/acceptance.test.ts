import { describe, expect, it } from 'vitest';
import type { AcceptanceRun, ReferenceCase } from '../api/acceptance';
import {
  anyActive, checkedVersion, diceLines, labelDiceText, newestFirst, passedText, referenceState, stateText, suggestedVersion,
  targetClinics, vendorOutcomeText, verdictText, versionChoices,
} from './acceptance';

const run = (over: Partial<AcceptanceRun> = {}): AcceptanceRun => ({
  id: 3, algorithm: 'ct-lungs', version: '1.1.0', job_id: 9, state: 'queued', passed: null, created_by: 'a.adm',
  created_at: 100, finished_at: null, ...over,
});

describe('a run in words', () => {
  it('names its state and whether it passed', () => {
    expect(stateText('queued')).toBe('in progress');
    expect(stateText('failed')).toBe('not passed');
    expect(stateText('something')).toBe('something');
    expect(passedText(run())).toBe('–');
    expect(passedText(run({ state: 'passed', passed: true }))).toBe('yes');
    expect(passedText(run({ state: 'failed', passed: false }))).toBe('no');
    expect(anyActive([run({ state: 'passed' }), run()])).toBe(true);
    expect(anyActive([run({ state: 'error' })])).toBe(false);
  });

  it('gives the verdict with the reasons or the error', () => {
    expect(verdictText(run())).toBe('In progress');
    expect(verdictText(run({ state: 'passed', passed: true, report: { passed: true, reasons: [] } }))).toBe('Passed');
    expect(verdictText(run({ state: 'failed', passed: false, report: { reasons: ['1 reference case; the criteria need at least 3'] } })))
      .toBe('Not passed: 1 reference case; the criteria need at least 3');
    expect(verdictText(run({ state: 'failed', passed: false }))).toBe('Not passed');
    expect(verdictText(run({ state: 'error', passed: false, report: { error: 'no such version' } }))).toBe('Could not run: no such version');
  });

  it('gives each segment\'s mean Dice with its 95 % interval', () => {
    expect(labelDiceText({ label: 1, name: 'Right lung', mean_dice: 0.705, dice_ci95: [0.61, 0.8] })).toBe('Right lung: 0.705 (95 % CI 0.610–0.800)');
    expect(labelDiceText({ label: 2, name: '', mean_dice: 0.9, dice_ci95: null })).toBe('segment 2: 0.900');
    expect(labelDiceText({ label: 2, name: 'Left lung', mean_dice: null, dice_ci95: null })).toBe('Left lung: –');
    const lines = diceLines({
      labels: [
        { label: 2, name: 'Left lung', n: 3, failures: 0, mean_dice: 0.9, dice_ci95: [0.85, 0.95], mean_hd95_mm: 2 },
        { label: 1, name: 'Right lung', n: 3, failures: 0, mean_dice: 0.8, dice_ci95: [0.7, 0.9], mean_hd95_mm: 3 },
      ],
    });
    expect(lines.map((l) => l.label)).toEqual([1, 2]);
    expect(lines[0]).toEqual({ label: 1, text: 'Right lung: 0.800 (95 % CI 0.700–0.900)', mean: 0.8 });
    expect(diceLines({ error: 'x' })).toEqual([]);
    expect(diceLines(null)).toEqual([]);
  });

  it('orders runs newest first', () => {
    expect(newestFirst([run({ id: 1, created_at: 5 }), run({ id: 3, created_at: 9 }), run({ id: 2, created_at: 9 })]).map((r) => r.id)).toEqual([3, 2, 1]);
  });
});

describe('the versions a clinic tests', () => {
  it('lists what its deployment names and the default, each once, with why', () => {
    const d = { pinned: '1.0', previous: '0.9', canary: { version: '1.1', percent: 10 }, scheduled: { version: '1.2', percent: 100, at: 5, reason: '' } };
    expect(versionChoices(d, ['1.0'])).toEqual([
      { version: '1.2', note: 'scheduled' },
      { version: '1.1', note: 'canary' },
      { version: '1.0', note: 'in use, default' },
      { version: '0.9', note: 'previous' },
    ]);
    expect(versionChoices(null, ['2.0'])).toEqual([{ version: '2.0', note: 'default' }]);
    expect(versionChoices({ pinned: '1.0', previous: null, canary: null, scheduled: null })).toEqual([{ version: '1.0', note: 'in use' }]);
  });

  it('suggests the version coming, else the one in use', () => {
    expect(suggestedVersion({ pinned: '1.0', canary: null, scheduled: { version: '1.2', percent: 100, at: 1, reason: '' } })).toBe('1.2');
    expect(suggestedVersion({ pinned: '1.0', canary: { version: '1.1', percent: 5 }, scheduled: null })).toBe('1.1');
    expect(suggestedVersion({ pinned: '1.0', canary: null, scheduled: null })).toBe('1.0');
    expect(suggestedVersion(null)).toBe('');
  });

  it('checks a version typed in', () => {
    expect(checkedVersion(' 1.1.0 ')).toBe('1.1.0');
    expect(checkedVersion('2.0-rc1+build_7')).toBe('2.0-rc1+build_7');
    expect(() => checkedVersion('  ')).toThrow(/Name the version/);
    expect(() => checkedVersion('1.0 beta')).toThrow(/letters, digits/);
  });
});

describe('the vendor\'s runs at the clinics', () => {
  it('gives each clinic\'s run or refusal', () => {
    expect(vendorOutcomeText({ ok: true, run: run({ id: 7, version: '1.2' }) })).toBe('run #7 of 1.2 started');
    expect(vendorOutcomeText({ ok: false, error: { code: 'conflict', message: 'this clinic has no reference case' } })).toBe('this clinic has no reference case');
    expect(vendorOutcomeText({ ok: false, error: { code: 'not_found', message: '' } })).toBe('not_found');
    expect(vendorOutcomeText({ ok: false })).toBe('refused');
  });

  it('targets the selected clinics, or all', () => {
    expect(targetClinics(false, new Set(['alpha']), ['alpha', 'beta'])).toEqual(['alpha']);
    expect(targetClinics(true, [], ['alpha', 'beta'])).toEqual(['alpha', 'beta']);
    expect(() => targetClinics(false, [], ['alpha'])).toThrow(/Select at least one clinic/);
  });
});

describe('a series as a reference case', () => {
  const refs: ReferenceCase[] = [{ series_uid: '1.2', study_uid: '1.1', segmentation_id: 41, marked_by: 'a.rad', marked_at: 5 }];
  it('finds the series\' reference and whether the shown version is it', () => {
    expect(referenceState(refs, '1.2', 41)).toEqual({ reference: refs[0], isShown: true });
    expect(referenceState(refs, '1.2', 40)).toEqual({ reference: refs[0], isShown: false });
    expect(referenceState(refs, '1.2', null).isShown).toBe(false);
    expect(referenceState(refs, '9.9', 41)).toEqual({ reference: null, isShown: false });
  });
});

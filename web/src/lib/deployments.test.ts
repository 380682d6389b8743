import { describe, expect, it } from 'vitest';
import type { Deployment, DeploymentEvent } from '../api/deployments';
import {
  actionBody, correctionPairs, deploymentSummary, eventText, formatNumber, localInputToUnix, metricPairs, outcomeCode, outcomeHint, outcomeText,
  scheduledNotice, shadowVersions, shortUid, unixToLocalInput, versionChange, versionOptions,
} from './deployments';

const when = (t: number) => `@${t}`;
const d = (over: Partial<Deployment> = {}): Deployment => ({ pinned: '1.0', previous: null, canary: null, shadow: '', scheduled: null, ...over });
const ev = (action: string, over: Partial<DeploymentEvent> = {}): DeploymentEvent => ({
  id: 1, algorithm: 'ct-lungs', action, from: '1.0', to: '1.1', detail: {}, actor: 'v.release', at: 100, ...over,
});

describe('a deployment in words', () => {
  it('says what runs and what is under way', () => {
    expect(deploymentSummary(d())).toBe('runs 1.0');
    expect(deploymentSummary(d({ canary: { version: '1.1', percent: 20 }, shadow: '1.2', scheduled: { version: '1.2', percent: 100, at: 5, reason: '' } }), when))
      .toBe('runs 1.0; canary 1.1 on 20 % of series; shadow 1.2; scheduled 1.2 on @5');
    expect(deploymentSummary(d({ pinned: '' }))).toBe('runs no version yet');
  });

  it('announces a scheduled promotion to the clinic', () => {
    expect(scheduledNotice(d())).toBeNull();
    expect(scheduledNotice(d({ scheduled: { version: '1.1', percent: 100, at: 1767225600, reason: 'validated' } }), when)).toBe('Version 1.1 replaces 1.0 on @1767225600');
    expect(scheduledNotice(d({ scheduled: { version: '1.1', percent: 25, at: 9, reason: '' } }), when))
      .toBe('Version 1.1 starts on 25 % of series on @9; 1.0 stays in use for the others');
  });
});

describe('events in words', () => {
  it('names the action, with its share, due date or cause', () => {
    expect(eventText(ev('promoted'))).toBe('promoted');
    expect(eventText(ev('rolled_back'))).toBe('rolled back');
    expect(eventText(ev('canary_started', { detail: { percent: 10 } }))).toBe('canary started on 10 % of series');
    expect(eventText(ev('scheduled', { detail: { at: 7, percent: 100 } }), when)).toBe('promotion scheduled for @7');
    expect(eventText(ev('scheduled', { detail: { at: 7, percent: 30 } }), when)).toBe('promotion scheduled for @7, as a canary on 30 % of series');
    expect(eventText(ev('promoted', { detail: { scheduled_at: 7 } }), when)).toBe('promoted as scheduled for @7');
    expect(eventText(ev('schedule_cancelled', { detail: { why: 'replaced' } }))).toBe('scheduled promotion cancelled (replaced by a new schedule)');
    expect(eventText(ev('shadow_ended', { detail: { why: 'rolled back to it' } }))).toBe('shadow run ended (rolled back to it)');
    expect(eventText(ev('something_new'))).toBe('something new');
  });

  it('shows the versions it moved between', () => {
    expect(versionChange(ev('promoted'))).toBe('1.0 → 1.1');
    expect(versionChange(ev('pinned', { from: '', to: '1.0' }))).toBe('1.0');
    expect(versionChange(ev('shadow_ended', { from: '1.1', to: '' }))).toBe('1.1');
  });
});

describe('each clinic\'s outcome', () => {
  it('gives the deployment after a change, or the refusal in either error shape', () => {
    expect(outcomeText({ clinic: 'a', ok: true, deployment: { ...d({ pinned: '1.1', previous: '1.0' }), clinic: 'a', name: 'A' } })).toBe('done: runs 1.1');
    expect(outcomeText({ clinic: 'a', ok: false, error: { error: { code: 'conflict', message: 'the clinic runs 1.1 already' } } })).toBe('the clinic runs 1.1 already');
    expect(outcomeText({ clinic: 'a', ok: false, error: { code: 'conflict', message: 'nothing to roll back to' } })).toBe('nothing to roll back to');
    expect(outcomeText({ clinic: 'a', ok: false })).toBe('refused');
  });

  it('shows a refusal for want of acceptance, and says what to do', () => {
    const refused = { clinic: 'a', ok: false, error: { code: 'acceptance_required', message: 'this clinic requires a passed acceptance run before box 1.1 reaches it; there is none' } };
    expect(outcomeText(refused)).toBe('this clinic requires a passed acceptance run before box 1.1 reaches it; there is none');
    expect(outcomeCode(refused)).toBe('acceptance_required');
    expect(outcomeCode({ clinic: 'a', ok: false, error: { error: { code: 'acceptance_required', message: 'm' } } })).toBe('acceptance_required');
    expect(outcomeHint(refused)).toMatch(/passed acceptance run/);
    expect(outcomeCode({ clinic: 'a', ok: true })).toBe('');
    expect(outcomeHint({ clinic: 'a', ok: false, error: { code: 'conflict', message: 'x' } })).toBe('');
  });
});

describe('the action form', () => {
  const now = localInputToUnix('2026-03-01T12:00')!;

  it('turns a local date and time into Unix seconds and back', () => {
    expect(localInputToUnix('2026-03-01T09:30')).toBe(new Date(2026, 2, 1, 9, 30).getTime() / 1000);
    expect(localInputToUnix('2026-03-01T09:30:15')).toBe(new Date(2026, 2, 1, 9, 30, 15).getTime() / 1000);
    expect(unixToLocalInput(localInputToUnix('2026-12-31T23:59')!)).toBe('2026-12-31T23:59');
    expect(localInputToUnix('2026-02-30T09:00')).toBeNull();
    expect(localInputToUnix('2026-03-01 09:00')).toBeNull();
    expect(localInputToUnix('2026-03-01T24:00')).toBeNull();
    expect(localInputToUnix('')).toBeNull();
  });

  it('builds a promotion at once, as a canary, or scheduled', () => {
    expect(actionBody('promote', { all: false, clinics: ['alpha'], version: '1.1', canaryPercent: '', effective: '', reason: '  ' }, now))
      .toEqual({ clinics: ['alpha'], version: '1.1' });
    expect(actionBody('promote', { all: true, clinics: ['alpha'], version: '1.1', canaryPercent: '20', reason: 'shadow agreed' }, now))
      .toEqual({ clinics: 'all', version: '1.1', canary_percent: 20, reason: 'shadow agreed' });
    expect(actionBody('promote', { all: false, clinics: ['a', 'b'], version: '1.1', effective: '2026-03-02T08:00' }, now))
      .toEqual({ clinics: ['a', 'b'], version: '1.1', effective_at: localInputToUnix('2026-03-02T08:00') });
  });

  it('refuses what the server would refuse', () => {
    const f = { all: false, clinics: ['alpha'], version: '1.1' };
    expect(() => actionBody('promote', { ...f, clinics: [] }, now)).toThrow(/Select at least one clinic/);
    expect(() => actionBody('promote', { ...f, version: '' }, now)).toThrow(/Choose the version/);
    expect(() => actionBody('shadow', { ...f, version: undefined }, now)).toThrow(/Choose the version/);
    for (const share of ['0', '100', '12.5', 'x']) expect(() => actionBody('promote', { ...f, canaryPercent: share }, now)).toThrow(/1 to 99/);
    expect(() => actionBody('promote', { ...f, effective: '2026-03-01T11:00' }, now)).toThrow(/has passed/);
    expect(() => actionBody('promote', { ...f, effective: '2027-06-01T11:00' }, now)).toThrow(/a year ahead/);
    expect(() => actionBody('promote', { ...f, effective: '2026-13-01T11:00' }, now)).toThrow(/not a real date/);
    expect(() => actionBody('rollback', { ...f, reason: 'x'.repeat(501) }, now)).toThrow(/500/);
  });

  it('sends no version, share or date with a rollback or an end of shadow', () => {
    const f = { all: false, clinics: ['alpha'], version: '1.1', canaryPercent: '5', effective: '2026-03-02T08:00', reason: 'complaints' };
    expect(actionBody('rollback', f, now)).toEqual({ clinics: ['alpha'], reason: 'complaints' });
    expect(actionBody('end-shadow', { ...f, reason: '' }, now)).toEqual({ clinics: ['alpha'] });
    expect(actionBody('shadow', f, now)).toEqual({ clinics: ['alpha'], version: '1.1', reason: 'complaints' });
  });

  it('offers the versions, withdrawn ones not selectable', () => {
    expect(versionOptions([
      { version: '1.0', enabled: true, default: true, registered_at: 1 },
      { version: '0.9', enabled: false, default: false, registered_at: 0 },
    ])).toEqual([
      { value: '1.0', label: '1.0 (default)', disabled: false },
      { value: '0.9', label: '0.9 (withdrawn)', disabled: true },
    ]);
  });
});

describe('the shadow comparison', () => {
  it('lists the versions in shadow, the most clinics first', () => {
    expect(shadowVersions([{ shadow: '' }, { shadow: '1.2' }, { shadow: '1.1' }, { shadow: '1.2' }])).toEqual(['1.2', '1.1']);
    expect(shadowVersions([])).toEqual([]);
  });

  it('puts both versions\' metrics and correction agreement side by side', () => {
    expect(metricPairs({ air_ml: 120.5, note: 'x' }, { air_ml: 60 })).toEqual([
      { name: 'air_ml', pinned: 120.5, shadow: 60 },
      { name: 'note', pinned: 'x', shadow: undefined },
    ]);
    expect(correctionPairs(null)).toEqual([]);
    expect(correctionPairs({ pinned: [{ label: 2, dice: 0.9, hd95_mm: 1 }, { label: 1, dice: 0.8, hd95_mm: null }], shadow: [{ label: 1, dice: 0.85, hd95_mm: 2 }] }))
      .toEqual([{ label: 1, pinned: 0.8, shadow: 0.85 }, { label: 2, pinned: 0.9, shadow: null }]);
  });

  it('keeps numbers and UIDs short', () => {
    expect(formatNumber(2210.4321)).toBe('2210');
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(undefined)).toBe('–');
    expect(formatNumber('n/a')).toBe('n/a');
    expect(shortUid('1.2.840.113619.2.55.3.604688119.971.1')).toBe('1.2.840.…19.971.1');
    expect(shortUid('1.2.3')).toBe('1.2.3');
  });
});

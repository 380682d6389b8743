// The clinic's settings (clinic admins): whether physicians may edit segmentations (and so
// correct results), whether the vendor may see the clinic's cases (images in bug reports'
// screenshots and reproduction bundles), and in which extra forms algorithm results are sent
// (an RT structure set, overlay images) for PACS viewers that cannot show a DICOM SEG, and
// whether a new algorithm version needs a passed acceptance run here first. Each change is
// saved at once and audited.
import * as api from '../api/client';
import { sendJson } from '../api/http';
import type { Tenant } from '../api/types';
import { h, toast } from '../lib/dom';
import { pageFrame, showError, stateLine } from '../ui/page';

type Setting = keyof Tenant['settings'];

const SETTINGS: { key: Setting; label: string; explain: string }[] = [
  { key: 'physicians_edit_segmentations', label: 'Physicians may edit segmentations',
    explain: 'Lets physicians save segmentation versions, including corrections of algorithm results.' },
  { key: 'share_cases_with_vendor', label: 'Share cases with the vendor',
    explain: 'Lets the vendor’s staff see the images of bug reports (screenshots) and include the de-identified input and output volumes in reproduction bundles. Without it they see run metadata only.' },
  { key: 'results_as_rtstruct', label: 'Also send algorithm results as an RT structure set',
    explain: 'For PACS viewers that cannot show a DICOM SEG: each result is also sent as an RTSTRUCT (the segments as contours).' },
  { key: 'results_as_overlay', label: 'Also send algorithm results as overlay images (secondary capture)',
    explain: 'For PACS viewers that cannot show a DICOM SEG: each result is also sent as images with the segments drawn on them (pictures to look at, not a segmentation).' },
  { key: 'require_acceptance', label: 'Require a passed acceptance run before a new algorithm version is used',
    explain: 'The vendor cannot promote a version to your clinic (at once, scheduled or as a canary) until an acceptance run of it on your reference cases passed here; rollbacks are never refused.' },
];

export function settingsPage(main: HTMLElement): void {
  const line = stateLine('settings-state');
  const form = h('form.card', { 'aria-label': 'Clinic settings', onsubmit: (e: Event) => e.preventDefault() });
  main.append(pageFrame('Clinic settings', 'settings-page', line, form));
  api.tenant().then((t) => {
    line.textContent = `${t.name} (${t.slug})`;
    form.append(...SETTINGS.map((s) => {
      const box = h('input', { type: 'checkbox', name: s.key, checked: t.settings[s.key] === true, 'data-testid': `setting-${s.key}`, 'aria-describedby': `vg-setting-${s.key}` });
      box.addEventListener('change', async () => {
        box.disabled = true;
        try {
          const saved = await sendJson<Tenant>('PATCH', '/api/v1/tenant/settings', { [s.key]: box.checked });
          box.checked = saved.settings[s.key] === true;
          toast(`${s.label}: ${box.checked ? 'on' : 'off'}.`);
        } catch (e) {
          box.checked = !box.checked;
          toast(`Not saved: ${(e as Error).message}`, 'error');
        } finally {
          box.disabled = false;
        }
      });
      return h('div.setting', h('label.check', box, ` ${s.label}`), h('small.hint', { id: `vg-setting-${s.key}` }, s.explain));
    }));
  }, (e) => showError(line, 'the settings', e));
}

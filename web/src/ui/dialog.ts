// A modal form dialog (native <dialog>): a title, fields, Cancel and a confirming button.
// `onSubmit` runs with the dialog still open; if it throws, its message is shown in the
// dialog and the person can correct and retry, so a refusal from the server is never lost.
import { h } from '../lib/dom';

type Child = Node | string | null | undefined | false;

export interface FormDialogOptions {
  title: string;
  body: Child[];
  submitLabel: string;
  danger?: boolean;
  testid?: string;
  wide?: boolean;
  onSubmit: (form: HTMLFormElement) => Promise<void> | void;
}

let counter = 0;

export function formDialog(opts: FormDialogOptions): Promise<boolean> {
  const titleId = `vg-dialog-title-${++counter}`;
  const error = h('p.error', { role: 'alert', 'data-testid': 'dialog-error' });
  const submit = h('button', { type: 'submit', class: opts.danger ? 'danger' : 'primary' }, opts.submitLabel);
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const form = h('form.dialog-form', h('h2', { id: titleId }, opts.title), ...opts.body.filter(Boolean) as (Node | string)[], error,
    h('div.dialog-buttons', cancel, submit));
  const dialog = h('dialog.form-dialog', { 'aria-labelledby': titleId, 'data-testid': opts.testid, class: opts.wide ? 'wide' : '' }, form);
  document.body.append(dialog);

  return new Promise<boolean>((resolve) => {
    let done = false;
    const close = (ok: boolean) => {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    cancel.addEventListener('click', () => close(false));
    dialog.addEventListener('cancel', (e) => {
      if (submit.disabled) e.preventDefault(); // a request is under way
      else close(false);
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.textContent = '';
      submit.disabled = true;
      try {
        await opts.onSubmit(form);
        close(true);
      } catch (err) {
        error.textContent = (err as Error).message;
        submit.disabled = false;
      }
    });
    dialog.showModal();
  });
}

// A labelled control with an optional hint: the label names the control exactly (so that
// getByLabel finds it), the hint describes it.
let fields = 0;
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  if (!control.id) control.id = `vg-field-${++fields}`;
  const hintEl = hint ? h('small.hint', { id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div.field', h('label', { for: control.id }, label), control, hintEl);
}

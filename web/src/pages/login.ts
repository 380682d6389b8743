// Sign-in, with the server's errors and the throttling delay; then the forced password change.
import * as api from '../api/client';
import { ApiError } from '../api/http';
import { h } from '../lib/dom';
import { navigate } from '../router';
import { setUser } from '../session';

export function loginPage(main: HTMLElement, query: URLSearchParams): () => void {
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button.primary', { type: 'submit' }, 'Sign in');
  const error = h('p.error', { role: 'alert', 'data-testid': 'login-error' });
  let timer: number | undefined;

  const countdown = (seconds: number, message: string) => {
    submit.disabled = true;
    let left = seconds;
    const tick = () => {
      if (left <= 0) {
        submit.disabled = false;
        error.textContent = `${message.replace(/try again in \d+ seconds?/, '').replace(/;\s*$/, '')} — you can try again now.`;
        window.clearInterval(timer);
        return;
      }
      error.textContent = `Too many failed sign-ins. Try again in ${left} s.`;
      left -= 1;
    };
    tick();
    timer = window.setInterval(tick, 1000);
  };

  const form = h(
    'form.card.login',
    {
      onsubmit: async (e: Event) => {
        e.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        try {
          const answer = await api.signIn(username.value.trim(), password.value);
          setUser(answer);
          const next = query.get('next');
          if (answer.must_change_password) navigate('/password', { replace: true, force: true });
          else navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true, force: true });
        } catch (err) {
          password.value = '';
          if (err instanceof ApiError && err.status === 429 && err.retryAfter) {
            countdown(err.retryAfter, err.message);
            return;
          }
          error.textContent =
            err instanceof ApiError && err.status === 401 ? 'Wrong username or password.' : (err as Error).message || 'Sign-in failed.';
          submit.disabled = false;
          password.focus();
        }
      },
    },
    h('h1', 'voxelgate'),
    h('label', 'Username', username),
    h('label', 'Password', password),
    error,
    submit,
  );
  main.append(h('div.center', form));
  return () => window.clearInterval(timer);
}

export function passwordPage(main: HTMLElement): void {
  const current = h('input', { type: 'password', name: 'current', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', name: 'new', autocomplete: 'new-password', required: true, minlength: 12 });
  const again = h('input', { type: 'password', name: 'again', autocomplete: 'new-password', required: true, minlength: 12 });
  const error = h('p.error', { role: 'alert' });
  const form = h(
    'form.card.login',
    {
      onsubmit: async (e: Event) => {
        e.preventDefault();
        error.textContent = '';
        if (next.value !== again.value) {
          error.textContent = 'The new passwords differ.';
          return;
        }
        try {
          await api.changePassword(current.value, next.value);
          setUser(await api.me());
          navigate('/', { replace: true, force: true });
        } catch (err) {
          error.textContent = (err as Error).message;
        }
      },
    },
    h('h1', 'Choose a new password'),
    h('p', 'Your password must be changed before you continue (at least 12 characters).'),
    h('label', 'Current password', current),
    h('label', 'New password', next),
    h('label', 'New password again', again),
    error,
    h('button.primary', { type: 'submit' }, 'Change password'),
  );
  main.append(h('div.center', form));
}

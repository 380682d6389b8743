// Who is signed in, and the clinic's settings; loaded once per page load and on sign-in.
import * as api from './api/client';
import { ApiError, csrfToken, setCsrfToken, supportTenant } from './api/http';
import type { Me, Tenant } from './api/types';

export let user: Me | null = null;
let tenantInfo: Tenant | null | undefined;

export function setUser(u: Me | null): void {
  user = u;
  tenantInfo = undefined;
  document.dispatchEvent(new CustomEvent('vg:user'));
}

// Restores the session after a reload. Without the CSRF token (a new tab) the session is
// no use for changes, so the person signs in again.
export async function restore(): Promise<Me | null> {
  if (!csrfToken()) return null;
  try {
    const u = await api.me();
    setUser(u);
    return u;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) setCsrfToken(null);
    return null;
  }
}

export const isVendor = () => user?.role === 'provider_admin' || user?.role === 'provider_support';
export const isVendorAdmin = () => user?.role === 'provider_admin';
export const isClinicAdmin = () => user?.role === 'clinic_admin';
export const isClinician = () => user?.role === 'clinic_admin' || user?.role === 'radiologist' || user?.role === 'physician';
export const canAnnotate = () => user?.role === 'clinic_admin' || user?.role === 'radiologist';
// Runs, their feedback and bug reports are the clinic's own people's (never under a support grant).
export const canRunAlgorithms = () => isClinician() && !supportTenant();

export async function tenant(): Promise<Tenant | null> {
  if (tenantInfo !== undefined) return tenantInfo;
  try {
    tenantInfo = await api.tenant();
  } catch {
    tenantInfo = null;
  }
  return tenantInfo;
}

export async function canEditSegmentations(): Promise<boolean> {
  if (canAnnotate()) return true;
  if (user?.role !== 'physician') return false;
  const t = await tenant();
  return !!t?.settings?.physicians_edit_segmentations;
}

export const roleLabel: Record<string, string> = {
  provider_admin: 'vendor admin',
  provider_support: 'vendor support',
  clinic_admin: 'clinic admin',
  radiologist: 'radiologist',
  physician: 'physician',
};

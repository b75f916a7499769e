import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError, ConnectionLost } from '../api.js';

/** An error from a load or an action, in words that say what to do. */
export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  if (error instanceof ConnectionLost) return null; // the connection banner says it
  const text = error instanceof ApiError && error.status === 403 ? `Not allowed: ${error.message}. Ask an admin for a key with that scope.` : error.message;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

/** What a page shows when there is nothing yet, and how to get something. */
export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** " Warning: …" for each warning an action's answer carries (a promotion that changes what clients are decided; a plan's file this server cannot read). */
export const warningsOf = (r: unknown): string => ((r as { warnings?: string[] } | undefined)?.warnings ?? []).map((w) => ` Warning: ${w}.`).join('');

export const fmt = {
  num: (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || Number.isNaN(v) ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(digits)),
  /** A p-value to three places, the smallest as "< 0.001" (and 1 as 1.000, like its neighbours). */
  p: (v: number | null | undefined): string => (v === null || v === undefined || Number.isNaN(v) ? '—' : v < 0.0005 ? '< 0.001' : v.toFixed(3)),
  pct: (v: number | null | undefined, digits = 1): string => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(digits)}%`),
  time: (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—'),
};

/**
 * An action behind a confirmation that names what will change. The dialog is the browser's
 * own modal <dialog>: focus moves into it, Escape cancels, focus returns to the button.
 */
export function ConfirmButton(props: { label: string; title: string; confirm: ComponentChildren; danger?: boolean; run: () => Promise<unknown>; done?: (result: unknown) => void; testId?: string }) {
  const dialog = useRef<HTMLDialogElement>(null);
  // Unique per button: a page may hold many (one per key or version row).
  const titleId = `confirm-${useId()}`;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const open = () => {
    setError(undefined);
    dialog.current?.showModal();
  };
  const go = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await props.run();
      dialog.current?.close();
      props.done?.(r);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class={props.danger ? 'danger' : ''} onClick={open} data-testid={props.testId}>
        {props.label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId}>
        <h2 id={titleId}>{props.title}</h2>
        <div class="confirm-text">{props.confirm}</div>
        <ErrorNote error={error} />
        <div class="actions">
          <button type="button" onClick={() => dialog.current?.close()} disabled={busy}>
            Cancel
          </button>
          <button type="button" class={props.danger ? 'danger' : 'primary'} onClick={() => void go()} disabled={busy} data-testid="confirm">
            {busy ? 'Working…' : props.label}
          </button>
        </div>
      </dialog>
    </>
  );
}

/** Client-side paging of a list already loaded (1,000 models render 25 at a time). */
export function usePaged<T>(items: T[], size: number) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(items.length / size));
  useEffect(() => {
    if (page >= pages) setPage(pages - 1);
  }, [page, pages]);
  const shown = items.slice(page * size, page * size + size);
  const pager =
    pages > 1 ? (
      <nav class="pager" aria-label="pages">
        <button type="button" onClick={() => setPage(page - 1)} disabled={page === 0}>
          Previous
        </button>
        <span>
          Page {page + 1} of {pages} ({items.length})
        </span>
        <button type="button" onClick={() => setPage(page + 1)} disabled={page >= pages - 1}>
          Next
        </button>
      </nav>
    ) : null;
  return { shown, pager };
}

/**
 * A table with a header row of column names, in a wrapper that scrolls sideways on narrow
 * screens (focusable, so keyboard users can scroll it too).
 */
export function Table({ head, testId, children }: { head: ComponentChildren[]; testId?: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" tabIndex={0}>
      <table data-testid={testId}>
        <thead>
          <tr>
            {head.map((h, i) => (
              <th scope="col" key={i}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** Offer text as a file download (an export or a report fetched with the bearer token). */
export function saveAs(text: string, filename: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

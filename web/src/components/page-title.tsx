import type { ComponentChildren } from 'preact';

/** The page's heading; it takes the focus when the page is opened from the navigation. */
export function PageTitle({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-title">
      <h1 id="page-title" tabIndex={-1}>
        {title}
      </h1>
      {children}
    </div>
  );
}

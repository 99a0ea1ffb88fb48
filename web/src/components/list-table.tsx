import type { ComponentChildren } from 'preact';

/**
 * A list as a table that scrolls inside its own box: a heading per column and a last, unlabelled one
 * (named for screen readers) for each row's buttons. A row's edit form spans `headings.length + 1`.
 */
export function ListTable({
  testId,
  headings,
  children,
}: {
  testId: string;
  headings: readonly string[];
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>
            {headings.map((heading) => (
              <th scope="col" key={heading}>
                {heading}
              </th>
            ))}
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A table's column headings; a `{ hidden }` one is named for screen readers only ("Actions" over buttons). */
export function TableHead(props: { columns: Array<string | { hidden: string }> }) {
  return (
    <thead>
      <tr>
        {props.columns.map((c) =>
          typeof c === 'string' ? (
            <th key={c} scope="col">
              {c}
            </th>
          ) : (
            <th key={c.hidden} scope="col">
              <span class="visually-hidden">{c.hidden}</span>
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}

import type { TimelineEntry } from '../dashboard-types.js';
import { formatClock } from './format.js';

const KIND_LABELS: Record<TimelineEntry['kind'], string> = {
  leader: 'leader',
  election: 'election',
  member: 'member',
  partition: 'network',
  lease: 'lease',
  node: 'node',
  action: 'action',
};

/** The timeline, newest first. */
export function TimelineList(props: { entries: TimelineEntry[] }) {
  if (props.entries.length === 0) return <p class="empty">Nothing has happened yet.</p>;
  const newestFirst = [...props.entries].reverse();
  return (
    <ol class="timeline" aria-label="Timeline of leader changes and member events">
      {newestFirst.map((e) => (
        <li key={e.seq} class={`tl-entry tl-${e.kind}`} data-kind={e.kind}>
          <time dateTime={new Date(e.at).toISOString()}>{formatClock(e.at)}</time>
          <span class={`tl-kind tl-kind-${e.kind}`}>{KIND_LABELS[e.kind]}</span>
          <span class="tl-text">{e.text}</span>
          {e.term !== undefined && <span class="tl-term">term {e.term}</span>}
        </li>
      ))}
    </ol>
  );
}

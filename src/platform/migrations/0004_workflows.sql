-- Workflows (architecture rule 2): a command that spans modules runs as named steps, each
-- recorded when done, so a crash or a restart resumes at the first step not recorded and never
-- repeats one that is. One run per (kind, subject): starting the same workflow twice is a no-op.
create table platform_workflow_runs (
  id text primary key,
  kind text not null,
  subject_id text not null,
  -- What the steps need, as given when the run started.
  input jsonb not null,
  status text not null check (status in ('running', 'completed', 'compensated', 'failed')),
  -- [{"step": name, "output": …}] in the order the steps completed.
  steps_done jsonb not null default '[]',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  -- A node runs a run only while it holds this lease, so two nodes never run the same steps.
  lease_until timestamptz,
  last_error text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  unique (kind, subject_id)
);
create index platform_workflow_runs_due_idx on platform_workflow_runs (next_attempt_at) where status = 'running';

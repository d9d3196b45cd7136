-- The usage store: cumulative counters per instance, totals per agent and model,
-- per-minute samples for the recent windows, and the registry of AgentObservations.
--
-- Every counter is a bigint. Totals are only ever changed by record_heartbeat(),
-- which adds the increase of each per-instance maximum, so a total always equals
-- the sum of instance_usage over the agent's instances.

CREATE TABLE registered_agents (
    namespace            text        NOT NULL,
    name                 text        NOT NULL,
    agent                text        NOT NULL,
    service_account      text,
    stale_after_seconds  integer     CHECK (stale_after_seconds > 0),
    registered_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, name)
);
CREATE INDEX registered_agents_by_agent ON registered_agents (namespace, agent);

-- One row per agent that has sent a heartbeat, registered or not.
CREATE TABLE reporting_agents (
    namespace          text        NOT NULL,
    agent              text        NOT NULL,
    first_heartbeat_at timestamptz NOT NULL,
    last_heartbeat_at  timestamptz NOT NULL,
    PRIMARY KEY (namespace, agent)
);

CREATE TABLE instances (
    namespace          text        NOT NULL,
    agent              text        NOT NULL,
    instance           text        NOT NULL,
    started_at         timestamptz,
    first_heartbeat_at timestamptz NOT NULL,
    last_heartbeat_at  timestamptz NOT NULL,
    max_sequence       bigint      NOT NULL,
    final              boolean     NOT NULL DEFAULT false,
    skipped_records    bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, agent, instance)
);
CREATE INDEX instances_by_last_heartbeat ON instances (namespace, agent, last_heartbeat_at);

-- The greatest value seen of each counter per (namespace, agent, instance, model).
-- Rows are kept for good: a late heartbeat of an old instance must find its maxima.
CREATE TABLE instance_usage (
    namespace          text   NOT NULL,
    agent              text   NOT NULL,
    instance           text   NOT NULL,
    model              text   NOT NULL,
    input_tokens       bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens      bigint NOT NULL CHECK (output_tokens >= 0),
    cache_read_tokens  bigint NOT NULL CHECK (cache_read_tokens >= 0),
    cache_write_tokens bigint NOT NULL CHECK (cache_write_tokens >= 0),
    reasoning_tokens   bigint NOT NULL CHECK (reasoning_tokens >= 0),
    calls              bigint NOT NULL CHECK (calls >= 0),
    unreported_calls   bigint NOT NULL CHECK (unreported_calls >= 0),
    PRIMARY KEY (namespace, agent, instance, model)
);

-- Sum of instance_usage over the instances of an agent, kept in step by record_heartbeat().
CREATE TABLE model_totals (
    namespace          text   NOT NULL,
    agent              text   NOT NULL,
    model              text   NOT NULL,
    input_tokens       bigint NOT NULL,
    output_tokens      bigint NOT NULL,
    cache_read_tokens  bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    reasoning_tokens   bigint NOT NULL,
    calls              bigint NOT NULL,
    unreported_calls   bigint NOT NULL,
    PRIMARY KEY (namespace, agent, model)
);

-- Increases of the agent's totals per model and minute of the database's clock at
-- receipt. Pruned after the retention period; totals never depend on this table. A
-- sample is never greater than its model total, so it cannot overflow before it.
CREATE TABLE usage_samples (
    namespace          text        NOT NULL,
    agent              text        NOT NULL,
    model              text        NOT NULL,
    minute             timestamptz NOT NULL,
    input_tokens       bigint      NOT NULL,
    output_tokens      bigint      NOT NULL,
    cache_read_tokens  bigint      NOT NULL,
    cache_write_tokens bigint      NOT NULL,
    reasoning_tokens   bigint      NOT NULL,
    calls              bigint      NOT NULL,
    unreported_calls   bigint      NOT NULL,
    PRIMARY KEY (namespace, agent, model, minute)
);
CREATE INDEX usage_samples_by_minute ON usage_samples (minute);

-- Store one heartbeat atomically and send NOTIFY agentobs_usage '<namespace>/<agent>'.
--
-- Every heartbeat of an agent first locks the agent's reporting_agents row (the
-- upsert holds it until commit), so heartbeats of one agent run one after another:
-- the increases computed from instance_usage are never raced, and the other row
-- locks, all belonging to that agent, cannot deadlock.
--
-- Raises SQLSTATE AOB01 when the caller's ServiceAccount may not report for the
-- agent and AOB02 when the namespace already has max_unregistered agents that no
-- AgentObservation observes. The usage arrays are parallel, one entry per model,
-- and model names must be unique (the receiver checks this).
CREATE FUNCTION record_heartbeat(
    p_namespace        text,
    p_agent            text,
    p_instance         text,
    p_sequence         bigint,
    p_started_at       timestamptz,
    p_final            boolean,
    p_skipped_records  bigint,
    p_models           text[],
    p_input            bigint[],
    p_output           bigint[],
    p_cache_read       bigint[],
    p_cache_write      bigint[],
    p_reasoning        bigint[],
    p_calls            bigint[],
    p_unreported       bigint[],
    p_service_account  text,
    p_check_service_account boolean,
    p_max_unregistered integer
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_allowed_accounts text[];
    v_registered       boolean;
    v_unregistered     bigint;
BEGIN
    -- Only the ServiceAccounts named by the observing AgentObservations may report.
    SELECT count(*) > 0, array_agg(service_account) FILTER (WHERE service_account IS NOT NULL)
      INTO v_registered, v_allowed_accounts
      FROM registered_agents
     WHERE namespace = p_namespace AND agent = p_agent;
    IF p_check_service_account AND v_allowed_accounts IS NOT NULL
       AND (p_service_account IS NULL OR NOT p_service_account = ANY (v_allowed_accounts)) THEN
        RAISE EXCEPTION 'service account may not report for this agent'
              USING ERRCODE = 'AOB01';
    END IF;

    -- A new unregistered agent counts against the namespace's cap. The advisory lock
    -- serialises the count with other new agents of the same namespace.
    IF NOT v_registered AND NOT EXISTS (
        SELECT 1 FROM reporting_agents WHERE namespace = p_namespace AND agent = p_agent
    ) THEN
        PERFORM pg_advisory_xact_lock(hashtext('agentobs.unregistered'), hashtext(p_namespace));
        IF NOT EXISTS (
            SELECT 1 FROM reporting_agents WHERE namespace = p_namespace AND agent = p_agent
        ) THEN
            SELECT count(*) INTO v_unregistered
              FROM reporting_agents r
             WHERE r.namespace = p_namespace
               AND NOT EXISTS (SELECT 1 FROM registered_agents a
                                WHERE a.namespace = r.namespace AND a.agent = r.agent);
            IF v_unregistered >= p_max_unregistered THEN
                RAISE EXCEPTION 'namespace has too many unregistered agents'
                      USING ERRCODE = 'AOB02';
            END IF;
        END IF;
    END IF;

    INSERT INTO reporting_agents AS r (namespace, agent, first_heartbeat_at, last_heartbeat_at)
    VALUES (p_namespace, p_agent, now(), now())
    ON CONFLICT (namespace, agent) DO UPDATE
       SET last_heartbeat_at = greatest(r.last_heartbeat_at, excluded.last_heartbeat_at);

    INSERT INTO instances AS i (namespace, agent, instance, started_at, first_heartbeat_at,
                                last_heartbeat_at, max_sequence, final, skipped_records)
    VALUES (p_namespace, p_agent, p_instance, p_started_at, now(), now(), p_sequence,
            p_final, p_skipped_records)
    ON CONFLICT (namespace, agent, instance) DO UPDATE
       SET started_at        = coalesce(i.started_at, excluded.started_at),
           last_heartbeat_at = greatest(i.last_heartbeat_at, excluded.last_heartbeat_at),
           max_sequence      = greatest(i.max_sequence, excluded.max_sequence),
           final             = i.final OR excluded.final,
           skipped_records   = greatest(i.skipped_records, excluded.skipped_records);

    IF cardinality(p_models) = 0 THEN
        PERFORM pg_notify('agentobs_usage', p_namespace || '/' || p_agent);
        RETURN;
    END IF;

    -- Raise each maximum and add by how much it grew to the totals and the current
    -- minute's sample. All parts of one statement share a snapshot, so "previous"
    -- holds the maxima from before the upsert.
    WITH incoming AS (
        SELECT * FROM unnest(p_models, p_input, p_output, p_cache_read, p_cache_write,
                             p_reasoning, p_calls, p_unreported)
               AS u(model, input_tokens, output_tokens, cache_read_tokens,
                    cache_write_tokens, reasoning_tokens, calls, unreported_calls)
    ), previous AS (
        SELECT u.* FROM instance_usage u
         WHERE u.namespace = p_namespace AND u.agent = p_agent AND u.instance = p_instance
           AND u.model = ANY (p_models)
    ), raised AS (
        INSERT INTO instance_usage AS u
        SELECT p_namespace, p_agent, p_instance, n.* FROM incoming n
        ON CONFLICT (namespace, agent, instance, model) DO UPDATE
           SET input_tokens       = greatest(u.input_tokens, excluded.input_tokens),
               output_tokens      = greatest(u.output_tokens, excluded.output_tokens),
               cache_read_tokens  = greatest(u.cache_read_tokens, excluded.cache_read_tokens),
               cache_write_tokens = greatest(u.cache_write_tokens, excluded.cache_write_tokens),
               reasoning_tokens   = greatest(u.reasoning_tokens, excluded.reasoning_tokens),
               calls              = greatest(u.calls, excluded.calls),
               unreported_calls   = greatest(u.unreported_calls, excluded.unreported_calls)
        RETURNING u.*
    ), increase AS (
        SELECT r.model,
               r.input_tokens       - coalesce(p.input_tokens, 0)       AS input_tokens,
               r.output_tokens      - coalesce(p.output_tokens, 0)      AS output_tokens,
               r.cache_read_tokens  - coalesce(p.cache_read_tokens, 0)  AS cache_read_tokens,
               r.cache_write_tokens - coalesce(p.cache_write_tokens, 0) AS cache_write_tokens,
               r.reasoning_tokens   - coalesce(p.reasoning_tokens, 0)   AS reasoning_tokens,
               r.calls              - coalesce(p.calls, 0)              AS calls,
               r.unreported_calls   - coalesce(p.unreported_calls, 0)   AS unreported_calls
          FROM raised r LEFT JOIN previous p USING (model)
    ), grown AS (
        SELECT * FROM increase
         WHERE input_tokens > 0 OR output_tokens > 0 OR cache_read_tokens > 0
            OR cache_write_tokens > 0 OR reasoning_tokens > 0 OR calls > 0
            OR unreported_calls > 0
    ), totals AS (
        INSERT INTO model_totals AS t
        SELECT p_namespace, p_agent, g.* FROM grown g
        ON CONFLICT (namespace, agent, model) DO UPDATE
           SET input_tokens       = t.input_tokens + excluded.input_tokens,
               output_tokens      = t.output_tokens + excluded.output_tokens,
               cache_read_tokens  = t.cache_read_tokens + excluded.cache_read_tokens,
               cache_write_tokens = t.cache_write_tokens + excluded.cache_write_tokens,
               reasoning_tokens   = t.reasoning_tokens + excluded.reasoning_tokens,
               calls              = t.calls + excluded.calls,
               unreported_calls   = t.unreported_calls + excluded.unreported_calls
        RETURNING 1
    )
    INSERT INTO usage_samples AS s
    SELECT p_namespace, p_agent, g.model, date_trunc('minute', now()),
           g.input_tokens, g.output_tokens, g.cache_read_tokens, g.cache_write_tokens,
           g.reasoning_tokens, g.calls, g.unreported_calls
      FROM grown g
    ON CONFLICT (namespace, agent, model, minute) DO UPDATE
       SET input_tokens       = s.input_tokens + excluded.input_tokens,
           output_tokens      = s.output_tokens + excluded.output_tokens,
           cache_read_tokens  = s.cache_read_tokens + excluded.cache_read_tokens,
           cache_write_tokens = s.cache_write_tokens + excluded.cache_write_tokens,
           reasoning_tokens   = s.reasoning_tokens + excluded.reasoning_tokens,
           calls              = s.calls + excluded.calls,
           unreported_calls   = s.unreported_calls + excluded.unreported_calls;

    PERFORM pg_notify('agentobs_usage', p_namespace || '/' || p_agent);
END;
$$;

-- For reference: a plain single-row INSERT, committed on its own, into the
-- scratch table that bench/bench.sh creates:
--
--   CREATE TABLE bench_scratch (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
--     client int NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())
--
-- Variables: -D body=TEXT
INSERT INTO bench_scratch (client, body) VALUES (:client_id, :body);

-- compose.yaml: the job store's database beside Prefect's (README "Scale out").
-- The postgres image runs this once, when it creates its data volume, as POSTGRES_USER;
-- comic2pdf creates its tables in it on first use.
CREATE DATABASE comic2pdf OWNER prefect;

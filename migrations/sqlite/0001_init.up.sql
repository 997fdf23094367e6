-- Edge agent replica schema: created by the edge agent's sqlite package.
SELECT 1;

// The reference sink of the persist function's benchmark: the sample's Node.js way of writing
// a Kinesis batch to DynamoDB — decode each record, one PutItem per record, all at once
// (Promise.all), with the AWS SDK v3 and its default client settings.
//
// `handler` is what the sample deploys as a Lambda function. Run as `node sink.mjs --serve`
// (by lambda/bench, after `npm ci`), it serves the benchmark: it reads one Kinesis event per line on
// stdin, runs the handler on it and answers one JSON line on stdout, {"ms": <wall time>} or
// {"error": "..."}. The time covers what the Lambda runtime and the handler would do after the
// event is handed out: JSON.parse of the event, then the handler until every put is answered.
//
// Environment: SINK_TABLE, and AWS_ENDPOINT_URL to point it at the emulator (passed to the
// client as its `endpoint` option).

import { createInterface } from "node:readline";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";

const table = process.env.SINK_TABLE;
const client = new DynamoDBClient({
  region: process.env.AWS_REGION ?? "us-east-1",
  endpoint: process.env.AWS_ENDPOINT_URL,
});

// JSON value → DynamoDB AttributeValue, as a DocumentClient would marshal it.
function marshal(value) {
  if (value === null) return { NULL: true };
  switch (typeof value) {
    case "string":
      return { S: value };
    case "number":
      return { N: String(value) };
    case "boolean":
      return { BOOL: value };
    default:
      if (Array.isArray(value)) return { L: value.map(marshal) };
      return { M: marshalItem(value) };
  }
}

function marshalItem(object) {
  const item = {};
  for (const [name, value] of Object.entries(object)) item[name] = marshal(value);
  return item;
}

export const handler = async (event) => {
  await Promise.all(
    event.Records.map((record) => {
      const row = JSON.parse(Buffer.from(record.kinesis.data, "base64").toString("utf8"));
      return client.send(new PutItemCommand({ TableName: table, Item: marshalItem(row) }));
    }),
  );
};

async function serve() {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    let answer;
    try {
      const started = process.hrtime.bigint();
      const event = JSON.parse(line);
      await handler(event);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      answer = { ms, records: event.Records.length };
    } catch (err) {
      answer = { error: String(err?.stack ?? err) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
}

if (process.argv.includes("--serve")) {
  await serve();
}

// Validates xAPI statements with Learning Locker's conformance-tested validator
// (@learninglocker/xapi-validation, a devDependency in package.json).
// Reads a JSON array of statements on stdin; writes a JSON array with each statement's problems.
const validate = require("@learninglocker/xapi-validation").default;

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const problems = JSON.parse(input).map((statement) =>
    validate(statement).map((w) => ({ path: w.path.join("."), data: w.data, type: w.typeName || w.name })),
  );
  process.stdout.write(JSON.stringify(problems));
});

// Run against the replica set: one user per file in $APP_USERS_DIR (the keys of the mongodb-app-users
// Secret). The file name is both the user and its database, e.g. guild_content_emea; the content is the
// password. Users live in admin, so clients connect with authSource=admin.
const fs = require('fs');

const admin = db.getSiblingDB('admin');
admin.auth(process.env.MONGO_ROOT_USERNAME, process.env.MONGO_ROOT_PASSWORD);
if (!db.hello().isWritablePrimary) {
  throw new Error('not connected to a primary yet');
}

const dir = process.env.APP_USERS_DIR;
// Secret volumes also hold ..data and timestamped directories: skip dot entries.
const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => !n.startsWith('.')) : [];
for (const name of names) {
  const pwd = fs.readFileSync(`${dir}/${name}`, 'utf8').trim();
  const roles = [{ role: 'readWrite', db: name }];
  if (admin.getUser(name)) {
    admin.updateUser(name, { pwd, roles });
    print(`updated user ${name}`);
  } else {
    admin.createUser({ user: name, pwd, roles });
    print(`created user ${name}`);
  }
}
print(`${names.length} application user(s) in place`);

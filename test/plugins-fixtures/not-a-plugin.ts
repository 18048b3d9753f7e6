export default { title: 'no setup here' };

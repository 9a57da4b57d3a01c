// crypto.subtle beyond digest (docs/k6-compatibility.md#webcrypto): HMAC, AES-GCM/CBC/CTR give
// the exact values k6 gives; ECDSA, RSA-PSS and RSA-OAEP results made by one tool (k6, or Volley:
// the constants below) are verified or decrypted by both; ECDH agrees on the shared secret;
// PKCS #1 v1.5 signatures are byte for byte the same; bad input is refused with k6's error names.
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

const s = crypto.subtle;
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
const bytes = (t) => new Uint8Array(Array.from(t, (c) => c.charCodeAt(0)));
const text = (b) => String.fromCharCode(...new Uint8Array(b));
const errorName = async (p) => {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e.name;
  }
};

// Keys k6 v1.1.0 generated, as it exported them.
const EC_P256 = {'kty': 'EC', 'crv': 'P-256', 'x': 'cY_pTff5uS1oZdy3U2Lmf1ZWxkkw0SLjhJrrxI_pxX0', 'y': 'PgiTU4NmIYcLuC49KVFF9jDKSTJgJI19TqdEzou-jf0', 'd': '6CBLpnyRz2ZVRe_vmvVUxAMuQ0F0EOTYhDqpQltty8A'};
const EC_P384 = {'kty': 'EC', 'crv': 'P-384', 'x': 'SMv6HlDSVzpPuvK7wpLAfeRnPKbpC8IsSjiOsXdYkERvidP74Xr4xsRlXYQtJFIU', 'y': 'tQdXoCIXK5WnuFXVVXC-5O9Wb5qEzuF-bv_3csdi89uA2sONIWqbrAo7jv-w05bY', 'd': '3ZI6_n6xR-xcj93dmAWdKXd5vthZEJ9Xyc7r62_o_jHDMpLf_0e-MAdBGhtyDX9-'};
const EC_P521 = {'kty': 'EC', 'crv': 'P-521', 'x': 'Ql6zDjt9NZX5hWnXBghK5Saeb30MZKFrA0ghY7NK7im_g_MydWNn4v2l1hvSPU52cjA6LqyyEwpBdA1dVX9u_tI', 'y': 'nTWb-SvM16b_XaBpPOg5Wjh-lUNAyg3WV6ujTr7J2C7Ir68bniDt3BkchXxEbH99V0m3xnCsaNeO2cU2zZwzB2Y', 'd': 'AX_apLH5XuGNAn2Ka0BvVWmTUHpz6U02R52zTdqARYz42VDt9S83PaxVoK7hq_ITUWaItaghUWrvSJvVcd6F41U9'};
const DH_P521_A = {'kty': 'EC', 'crv': 'P-521', 'x': 'AWXQ1TeVGsWWTb47bMO7v9Jl_9gFTZm6CRAIp2ey4JATjaarvFrhsQTpD_2Xm8iswQAQDGk95wM6YJlShvL3opEL', 'y': '_-gkddK5QuqFL3mCOGHERPdeGhx1K4hnHNmXnWvP6AeYOB5-BCbBnaqk1MAdpXcpY5FTCqkmlvvxLkdO8EW-xIk', 'd': 'AJfncTNGIs71ceAoeSYdeno9shPfHr_83WPkL2bXuZahwddZE688IrIZjIZpEwKP5bIS1NLjeXBBL-9w4ODK14mK'};
const DH_P521_B_PUBLIC = {'kty': 'EC', 'crv': 'P-521', 'x': '5_kwxlHURq73UX3awNjOGLqg9Os2bxhcu0gpVSU7Oez1OIOl0MfwOTYAGfoJXC12PcH0xP74-nMZT7QNvW4AgsQ', 'y': 'AdIJPKgmQQjx-L3k6dV6jICIwUhVX08HnxYJcgcSphhPD-S7uo8hr92rY5N7O_ujKcdBLRsScKIyNvip4xXe9Hcc'};
const DH_A = {'kty': 'EC', 'crv': 'P-256', 'x': '319jXHWdHB_-fISjzmioJvkRxan1P3tSvSE7Nx-A168', 'y': 'plNG-cU2Np6f3f1SExunbGvr2lS9K0YFkK6pPhm8tNc', 'd': 'RmBu7MMg8o1yf4HyB5gmF9W_OZOyB9L1NgB2BuceCfk'};
const DH_B_PUBLIC = {'kty': 'EC', 'crv': 'P-256', 'x': 'fxyCGhMD_8wZ4zMkLBvRQkyFrThS0WxlAv7wfb26sQE', 'y': 'PyZUE1XzLXotV46DeEDVvwXLioijxE81U8hOVVlbBEg'};
const RSA = {'d': 'IdSdndpkNkmad7WisJgweAqRu8op57GxwDI9b41mfci-k212MEY5ZrzmQ2gu54vvgaIwJpMzBLqXCPqZweEaMP5px4jR_goL-uaUreD5FdYARHnoecJmCN6z3yYfygzyrnMITvY-GcjtaAGgADftCxTIdKFFBJN_NVnUiwf-UKE', 'dq': 'rDplY6kIzduBKuHLqAK72ki486Z8KkQ-Wv4wr6fG9v1zdcvH5TPwWl2kgPfwr0REGwxoQy1xu7aGON12j-JIow', 'qi': 'RlSzKdH92fcGJROKk394gl3JQu_kjX-OyydkHYoieNQRhhBdjpo2alfyV8lnBr87LwYiJckTu71CBlIat-FoHA', 'n': '5SOmUov127-tEJ4r-lyFxhYPMikAJ6zbU9DzB8zwUNVBMfPEQKwfPrYob0p1dn9klDSJzzIZZaNkvNeKOaWEqpnJ6P6Pt_MaYHklf1cCSo5C6LhzBwMxKai2f-bvGo73xYEMxDryF2wUF3cT4efoIh9qQ1YCJ6dkA8e3ySrxDvc', 'p': '-570vp0H9qb9-dwbTJQ8nW5oCZtmqRIqvqANT-P-QVGP7q34o1QtQ8UCFLJmnv--AfqqkY9LxQGjoFs4qoP7XQ', 'q': '6SCIBiADKqT-ULusfWMvgz3XuPoHkKDd-2yLFump_RgY2MeDWXeamZEzrU6ze1rRfmMtaUlTPuJn9SYKMM6iYw', 'dp': 'QEJzHK771qkFGad1rVP6OvZ0SWfPiwQhuHcljy6Zw1KyIHF7mzKnMLSCeIirHpYPj2_V2cCvyAtIH27MhPeZ3Q', 'kty': 'RSA', 'e': 'AQAB'};
const RSA_SPKI = '30819f300d06092a864886f70d010101050003818d0030818902818100e523a6528bf5dbbfad109e2bfa5c85c6160f32'
    + '290027acdb53d0f307ccf050d54131f3c440ac1f3eb6286f4a75767f64943489cf321965a364bcd78a39a584aa99c9e8'
    + 'fe8fb7f31a6079257f57024a8e42e8b87307033129a8b67fe6ef1a8ef7c5810cc43af2176c14177713e1e7e8221f6a43'
    + '560227a76403c7b7c92af10ef70203010001';
const OAEP = {'e': 'AQAB', 'd': 'HqbqWr_RIXj63YmyFPT01VEZfEMTIEWH-oDsKsfPsvlMlRy0Eaf9J1rYs6F6Xxf8i-5f1QbrN17m-q39bAWCFypfS88gsmSXGPXbiQqipVgcVFZlWh6hql4pewpwK9snbJ-djJQN6_ERzdvdMgY3-Dz2ua16OuAceC30tgl9yck', 'p': 'wK8yxvfmq4J7T1WGL0UUIVAE3KSMwJpRXvU8g-aecV6KPFrNiBNDbK0mfgWgojKSyrx7AUGHsVGw_ba4JanuKQ', 'dp': 'at3Aj9HWQbFwqqOIdJcffwpeZ_FrjzcHgl8JXS5_GemRScAi1iG494FhI-wDF3JtL7wxjJTHqXThcRXyNBF3YQ', 'qi': 'INzFM649Ou4j57tYuf4K3A2FOOvXv9QfrATjzV35jdHzp_1pr86se2ddreiRXgXh9fBHrT__BySHVSB6ajzlNQ', 'kty': 'RSA', 'n': 'llCFRzMl3Jy34mVuXO8deKeqP1RasG0J0pvkMxZoJ4SXWyvzf5AbzSRVnY2mmi45oMQ5qn6Jb_FVYf6c-HwhXmczB5DjR2ot1pvPdlvop7A7p_PwM9abMZxjWKPKzg3aFU1bdWYw2uNbbXEpv5S6PjUOTXHuAqcItoJdoz8Jmp0', 'q': 'x7UhIUdDFiJJs0229BBscUTiSSYqNz9MmMk298fA4sEXgnUwlrBwPOhZQmCLZfsT-PjRVHu4-93pUVsACEQvVQ', 'dq': 'YKJkxZWWAL_WqcyRGshXsPeEB6FQDCu1BLlYv80IqLCGj7nlKQV3SgGkL1pIGbDEmVTM9fRoLnfSzmsaOOXFgQ'};

// Made by k6 v1.1.0 with those keys.
const BY_K6 = {
  ecdsaP256: '5e994de7bf47a180423fd11e4340c5e6045c1e8f28128795bbd40c1bdb906549f9101d3a27e87f3fce5dc053df6450ea'
    + '7063b4057a8297171cb0d99d8c46a0b6',
  ecdsaP384: '07e64412801f4112adcd22846d706021067763bf03848da8181f94da8be9e04bef8005b35733d19487eb8351bfeaee64'
    + '1c83b250d5bdad88946e2621247f4b443d82d29df232455e662e87d03430448014f16d94126e3470df3e0067ad68aad0',
  pss: '0bed9b89657ca1c61003fd51810256acc2a677c66ab8e1b6eb46d7931d891b29f17428b4dd14aa0100d915f0215991ed'
    + '76fdfe8b845551930d2fb4634aaf077be69688b54b0c6815dafe60accdcac8494d9ef975d3c14c2b98a26c37996527ff'
    + 'ab1c3faef9f974670fd478a0c8deeab2097ffaab81c7ceb5445d7a0a9143c735',
  pkcs1: '38bac8fc7bcfd384d87b35824e285e28bfa5ae72121274d72d5d1e92d069aada442c3b1b53e2b6b87c9ba7b0ec8a08f5'
    + '648ae286582892959e2435e16ff5a50cb9aa20462fee70ed7dea2a211d83a235ce6ec2d354f5e546dacde7798cf77052'
    + 'd791d7beb1b39f5ce489046bda0cc7fbb0db81ecef5b8d1f2e04df76742fd25d',
  oaep: '420666e5fd4f8a431bf098f374c6b17562e2214f54026d18387cb1c75e6d0a06fa674680801ee0afdfbc88df84c2da4d'
    + '97d891626a06df65780e9a59c7f9495e14d56f6de0c41dc1600a79bbf4899ba31d04c92bef1b9d108bdb72efe2d08337'
    + 'c7d6613b184cbf036b39dd7a2714d777426be4ea50fb2ececb64af5e57198aac',
  p256Spki: '3059301306072a8648ce3d020106082a8648ce3d03010703420004718fe94df7f9b92d6865dcb75362e67f5656c64930'
    + 'd122e3849aebc48fe9c57d3e089353836621870bb82e3d295145f630ca493260248d7d4ea744ce8bbe8dfd',
  ecdh: 'd1a899ee404a6e8bb0186ab6a45b3d74731bbe0bf5ed219803c1b14133d29b58',
  ecdsaP521: '00af87c06c60043f2baa612a1d47b47cc7527b4f59fb3c5bcbe6a713c6733a06c2b211edcac54729c08823a1d27af2af'
    + 'd6df71c358e9484fe69ab25d042d8e8c92ae004b81fb5c66c256e325ebeef39f6d05658677802e5f088ce72f44baf320'
    + 'fbcee775d3765af820d2bb767f1a2b9253f3f95491d040ce7b0c9e13c5c010691421b53a',
  p521Spki: '30819b301006072a8648ce3d020106052b81040023038186000400425eb30e3b7d3595f98569d706084ae5269e6f7d0c'
    + '64a16b03482163b34aee29bf83f332756367e2fda5d61bd23d4e7672303a2eacb2130a41740d5d557f6efed2009d359b'
    + 'f92bccd7a6ff5da0693ce8395a387e954340ca0dd657aba34ebec9d82ec8afaf1b9e20eddc191c857c446c7f7d5749b7'
    + 'c670ac68d78ed9c536cd9c330766',
  ecdhP521: '01e312e44184f42cd63b62acbafcc69318b1683b03fa66151aa71a333990f2264a1007ea65940cb4b5440cfc80af0e89'
    + '6f0054fef3071aae186467835c177983f85c',
};
// Made by Volley with the same keys.
const BY_VOLLEY = {
  ecdsaP521: '01852dc616ea63f163f5632b6c1b35f912ce7a0bbc24f7e09fa0985af1428cf92e8275c126c8a836b3e82764e4f539c9'
    + '211f5f29b38b78b0b488bb52577fa58453d40155d903e75e05c69d443e5c1aa076319d64de905947a04a86bb4fda78e7'
    + 'ac24e8df79263fe0246c7d1584addd88e2c440b827bee44d83aaaeb728540c7730719ac4',
  ecdsaP256: '3b23d643a035caa760cfef8ddb28ebbd5d1bbf8fbdf90193771d529d5f50f7daa69d0c281ced7276da0d91ec694ee4cc'
    + '87a5943758ed9acb7e12c18d14ba5819',
  ecdsaP384: 'c4dd7db98a4a94bef961bfd74615a9b52a201d857b22f178c817a1614cf1dc1ea194be1c2317fe5a08f4ad22edf35574'
    + '808702e1ffc524888d922977b74c22d5c1ef1b3f8e73e8a82cc9bb79e8c470cd4e78dd883e034b8e64cd437ab7ada735',
  pss: '2e2707a2c3c6baaf7c508f4e84f21644e33eeb73bb629001d5f11bc8a15635f729d3ceb424bae797f692001d43d26885'
    + '7f460f22d003eefd53f0e821fa6464cb92a08867d7f96d37f99fece962594ad340fafe4c805221dbe901418c7b940217'
    + '5edb4899dcda66612c9ac1715c832ac7b5d76de49df81ab61a9175b0c6986dcf',
  oaep: '41b9235caa112e2f0873c391822ce1154412a581dd01f1723260674b6aa0b270daece6a94b7a2b7a1a131c109035ec48'
    + 'b2710d2813f3e2f09817b89f1e5f24cf629b426973f7662bc0444ed05e3b42a4f8db5990263b299063aa1334b0092afc'
    + 'e5895df98b21adaba2cd5de3153a7a596f549ef1b72591f50d669da3926e0066',
};

export default async function () {
  await hmac();
  await aes();
  await ec();
  await p521();
  await rsa();
  const unsupported = [
    await errorName(s.generateKey({ name: 'Ed25519' }, true, ['sign'])),
    await errorName(s.importKey('raw', bytes('pw'), 'PBKDF2', false, ['deriveBits'])),
    await errorName(s.sign('RSA-OAEP', null, bytes('x'))),
  ];
  check(null, {
    'unsupported algorithms': () => unsupported.join() === 'NotSupportedError,NotSupportedError,NotSupportedError',
  });
}

async function hmac() {
  const results = {};
  for (const hash of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512']) {
    const key = await s.importKey('raw', bytes('key'), { name: 'HMAC', hash }, true, ['sign', 'verify']);
    results[hash] = hex(await s.sign('HMAC', key, bytes('data')));
  }
  const key = await s.importKey('raw', bytes('key'), { name: 'HMAC', hash: { name: 'SHA-256' } }, false, ['sign', 'verify']);
  const sig = await s.sign({ name: 'HMAC' }, key, bytes('The quick brown fox jumps over the lazy dog'));
  const generated = await s.generateKey({ name: 'HMAC', hash: 'SHA-384' }, true, ['sign']);
  check(results, {
    'hmac sha-1': (r) => r['SHA-1'] === '104152c5bfdca07bc633eebd46199f0255c9f49d',
    'hmac sha-256': () => hex(sig) === 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    'hmac sha-384': (r) => r['SHA-384'] === 'c5f97ad9fd1020c174d7dc02cf83c4c1bf15ee20ec555b690ad58e62da8a00ee44ccdb65cb8c80acfd127ebee568958a',
    'hmac sha-512': (r) => r['SHA-512'].startsWith('3c5953a18f7303ec653ba170ae334fafa08e3846f2efe317b87efce82376253c'),
    'key fields': () => key.type === 'secret' && key.extractable === false && key.algorithm.name === 'HMAC'
      && key.algorithm.hash.name === 'SHA-256' && key.algorithm.length === 24 && key.usages.join() === 'sign,verify',
    'generated length is the block size': () => generated.algorithm.length === 1024,
  });
  const verified = await s.verify('HMAC', key, sig, bytes('The quick brown fox jumps over the lazy dog'));
  const wrong = await s.verify('HMAC', key, sig, bytes('the quick brown fox jumps over the lazy dog'));
  const jwk = await s.exportKey('jwk', generated);
  check(null, {
    'verify true and false': () => verified === true && wrong === false,
    'hmac jwk export': () => jwk.kty === 'oct' && jwk.alg === 'HS384' && jwk.ext === true && jwk.k.length === 171,
  });
}

async function aes() {
  const k256 = await s.importKey('raw', new Uint8Array(32).map((_, i) => 255 - i), 'AES-GCM', true, ['encrypt', 'decrypt']);
  const gcm = await s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12), additionalData: bytes('hdr'), tagLength: 128 }, k256, bytes('aes-256-gcm text'));
  const k192 = await s.importKey('raw', new Uint8Array(24).map((_, i) => i * 3), 'AES-CBC', true, ['encrypt', 'decrypt']);
  const cbc = await s.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16).fill(7) }, k192, bytes('aes-192-cbc, three blocks of text here'));
  const kc = await s.importKey('jwk', { kty: 'oct', k: 'CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk' }, 'AES-CTR', true, ['encrypt', 'decrypt']);
  const ctr = await s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16).fill(1), length: 32 }, kc, bytes('aes-256-ctr text that spans blocks'));
  const generated = await s.generateKey({ name: 'AES-GCM', length: 128 }, true, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const roundTrip = await s.decrypt({ name: 'AES-GCM', iv }, generated,
    await s.encrypt({ name: 'AES-GCM', iv }, generated, bytes('round trip')));
  check(null, {
    'aes-256-gcm with additional data': () => hex(gcm) === 'f1ff80fa6a51f53552118ab8a3074b15d2c6c11b59c1fd0bb9284feecff85d8f',
    'aes-192-cbc': () => hex(cbc) === 'ce35e9d9b5b5e18d1b0026e799109da2aa13c79013a51fd9c6bba57dcaa1596fafd34734492c17528f21d677411e1155',
    'aes-256-ctr': () => hex(ctr) === '0b6669c4f07f6e426f303ebe4e17d66401fc427cb91cf3153c75eed7c0d5d6090488',
    'gcm round trip': () => text(roundTrip) === 'round trip',
    'aes generated key': () => generated.algorithm.length === 128 && generated.type === 'secret',
  });
  const back = [
    text(await s.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12), additionalData: bytes('hdr') }, k256, gcm)),
    text(await s.decrypt({ name: 'AES-CBC', iv: new Uint8Array(16).fill(7) }, k192, cbc)),
    text(await s.decrypt({ name: 'AES-CTR', counter: new Uint8Array(16).fill(1), length: 32 }, kc, ctr)),
  ];
  const encryptOnly = await s.importKey('raw', new Uint8Array(16), 'AES-CBC', false, ['encrypt']);
  const errors = [
    await errorName(s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(16) }, k256, bytes('x'))),
    await errorName(s.encrypt({ name: 'AES-CBC', iv: new Uint8Array(8) }, k192, bytes('x'))),
    await errorName(s.decrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, encryptOnly, new Uint8Array(16))),
    await errorName(s.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, k256, bytes('x'))),
    await errorName(s.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, k256, new Uint8Array(32))),
    await errorName(s.importKey('raw', new Uint8Array(20), 'AES-GCM', true, ['encrypt'])),
    await errorName(s.exportKey('raw', encryptOnly)),
    await errorName(s.encrypt({ name: 'AES-KW' }, k256, bytes('x'))),
  ];
  check(back, {
    'decrypts to the text': (b) => b.every((t, i) => t === ['aes-256-gcm text', 'aes-192-cbc, three blocks of text here', 'aes-256-ctr text that spans blocks'][i]),
    'aes error names': () => errors.join() === 'NotSupportedError,OperationError,InvalidAccessError,InvalidAccessError,OperationError,DataError,InvalidAccessError,InvalidAccessError',
  });
}

// P-521: k6 writes a JWK's coordinates without their leading zero byte; both tools read them.
async function p521() {
  const E = { name: 'ECDSA', namedCurve: 'P-521' };
  const H = { name: 'ECDSA', hash: 'SHA-512' };
  const key = await s.importKey('jwk', EC_P521, E, true, ['sign']);
  const pub = await s.importKey('jwk', { kty: 'EC', crv: 'P-521', x: EC_P521.x, y: EC_P521.y }, E, true, ['verify']);
  const fresh = await s.sign(H, key, bytes('fresh'));
  const pair = await s.generateKey(E, true, ['sign', 'verify']);
  const a = await s.importKey('jwk', DH_P521_A, { name: 'ECDH', namedCurve: 'P-521' }, true, ['deriveBits']);
  const b = await s.importKey('jwk', DH_P521_B_PUBLIC, { name: 'ECDH', namedCurve: 'P-521' }, true, []);
  const spki = await s.exportKey('spki', pub);
  const results = [
    await s.verify(H, pub, unhex(BY_K6.ecdsaP521), bytes('signed by k6')),
    await s.verify(H, pub, unhex(BY_VOLLEY.ecdsaP521), bytes('signed by volley')),
    await s.verify(H, pub, fresh, bytes('fresh')),
    await s.verify(H, pub, unhex(BY_K6.ecdsaP521), bytes('signed by K6')),
  ];
  const secret = hex(await s.deriveBits({ name: 'ECDH', public: b }, a, 528));
  const whole = hex(await s.deriveBits({ name: 'ECDH', public: b }, a));
  const errors = [
    await errorName(s.deriveBits({ name: 'ECDH', public: b }, a, 521)),
    await errorName(s.deriveBits({ name: 'ECDH', public: b }, a, 536)),
  ];
  check(results, {
    'p521: signatures made by either tool verify': (r) => r.slice(0, 3).every((x) => x === true) && r[3] === false,
    'p521: signature and key sizes': () => fresh.byteLength === 132 && spki.byteLength === 158
      && String(pair.publicKey.algorithm.namedCurve) === 'P-521',
    'p521: spki export is k6s': () => hex(spki) === BY_K6.p521Spki,
    'p521: ecdh secret is k6s': () => secret === BY_K6.ecdhP521 && whole === secret,
    'p521: error names': () => errors.join() === 'NotSupportedError,OperationError',
  });
}

async function ec() {
  const p256 = await s.importKey('jwk', EC_P256, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
  const p256Public = await s.importKey('jwk', { kty: 'EC', crv: 'P-256', x: EC_P256.x, y: EC_P256.y }, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
  const p384Public = await s.importKey('jwk', { kty: 'EC', crv: 'P-384', x: EC_P384.x, y: EC_P384.y }, { name: 'ECDSA', namedCurve: 'P-384' }, true, ['verify']);
  const fromSpki = await s.importKey('spki', unhex(BY_K6.p256Spki), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
  const E256 = { name: 'ECDSA', hash: 'SHA-256' };
  const E384 = { name: 'ECDSA', hash: { name: 'SHA-384' } };
  const fresh = await s.sign(E256, p256, bytes('fresh'));
  const results = [
    await s.verify(E256, p256Public, unhex(BY_K6.ecdsaP256), bytes('signed by k6')),
    await s.verify(E256, p256Public, unhex(BY_VOLLEY.ecdsaP256), bytes('signed by volley')),
    await s.verify(E384, p384Public, unhex(BY_K6.ecdsaP384), bytes('signed by k6')),
    await s.verify(E384, p384Public, unhex(BY_VOLLEY.ecdsaP384), bytes('signed by volley')),
    await s.verify(E256, fromSpki, fresh, bytes('fresh')),
    await s.verify(E256, p256Public, unhex(BY_K6.ecdsaP256), bytes('signed by K6')),
  ];
  const a = await s.importKey('jwk', DH_A, { name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const b = await s.importKey('jwk', DH_B_PUBLIC, { name: 'ECDH', namedCurve: 'P-256' }, true, []);
  const secret = await s.deriveBits({ name: 'ECDH', public: b }, a, 256);
  const pair = await s.generateKey({ name: 'ECDH', namedCurve: 'P-384' }, true, ['deriveBits']);
  const other = await s.generateKey({ name: 'ECDH', namedCurve: 'P-384' }, true, ['deriveBits']);
  const ab = await s.deriveBits({ name: 'ECDH', public: other.publicKey }, pair.privateKey, 384);
  const ba = await s.deriveBits({ name: 'ECDH', public: pair.publicKey }, other.privateKey, 384);
  const signer = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign', 'verify']);
  check(results, {
    'signatures made by either tool verify': (r) => r.slice(0, 5).every((x) => x === true),
    'a changed message does not': (r) => r[5] === false,
    'ecdh secret is k6s': () => hex(secret) === BY_K6.ecdh,
    'ecdh both sides agree': () => hex(ab) === hex(ba) && ab.byteLength === 48,
    'ec key pair fields': () => signer.privateKey.type === 'private' && signer.publicKey.type === 'public'
      && signer.privateKey.usages.join() === 'sign' && signer.publicKey.usages.join() === 'verify'
      && signer.publicKey.extractable === true && signer.privateKey.extractable === false
      && String(signer.publicKey.algorithm.namedCurve) === 'P-384',
  });
  const spki = hex(await s.exportKey('spki', p256Public));
  const raw = new Uint8Array(await s.exportKey('raw', p256Public));
  const errors = [
    await errorName(s.sign({ name: 'ECDSA' }, p256, bytes('x'))),
    await errorName(s.sign(E256, p256Public, bytes('x'))),
    await errorName(s.exportKey('raw', signer.privateKey)),
    await errorName(s.exportKey('jwk', signer.privateKey)),
    await errorName(s.generateKey({ name: 'ECDSA', namedCurve: 'P-192' }, true, ['sign'])),
    await errorName(s.deriveBits({ name: 'ECDH', public: b }, a, 12)),
    await errorName(s.deriveBits({ name: 'ECDH', public: pair.publicKey }, a, 256)),
    await errorName(s.importKey('raw', new Uint8Array(65), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify'])),
  ];
  check(null, {
    'spki and raw export': () => spki === BY_K6.p256Spki && raw.length === 65 && raw[0] === 4,
    'ec error names': () => errors.join() === 'SyntaxError,InvalidAccessError,InvalidAccessError,InvalidAccessError,NotSupportedError,NotSupportedError,InvalidAccessError,DataError',
  });
}

async function rsa() {
  const pss = await s.importKey('jwk', RSA, { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['sign']);
  const pssPublic = await s.importKey('spki', unhex(RSA_SPKI), { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['verify']);
  const pkcs1 = await s.importKey('jwk', RSA, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  const pkcs1Public = await s.importKey('spki', unhex(RSA_SPKI), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
  const oaep = await s.importKey('jwk', OAEP, { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['decrypt']);
  const P = { name: 'RSA-PSS', saltLength: 32 };
  const mine = await s.sign('RSASSA-PKCS1-v1_5', pkcs1, bytes('signed by k6'));
  const fresh = await s.sign(P, pss, bytes('fresh'));
  const results = [
    await s.verify(P, pssPublic, unhex(BY_K6.pss), bytes('signed by k6')),
    await s.verify(P, pssPublic, unhex(BY_VOLLEY.pss), bytes('signed by volley')),
    await s.verify(P, pssPublic, fresh, bytes('fresh')),
    await s.verify('RSASSA-PKCS1-v1_5', pkcs1Public, unhex(BY_K6.pkcs1), bytes('signed by k6')),
    await s.verify({ name: 'RSA-PSS', saltLength: 20 }, pssPublic, unhex(BY_K6.pss), bytes('signed by k6')),
  ];
  const decrypted = [
    text(await s.decrypt({ name: 'RSA-OAEP' }, oaep, unhex(BY_K6.oaep))),
    text(await s.decrypt({ name: 'RSA-OAEP' }, oaep, unhex(BY_VOLLEY.oaep))),
  ];
  const pair = await s.generateKey({ name: 'RSA-OAEP', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-1' }, true, ['encrypt', 'decrypt']);
  const ct = await s.encrypt({ name: 'RSA-OAEP', label: bytes('label') }, pair.publicKey, bytes('round trip'));
  const roundTrip = text(await s.decrypt({ name: 'RSA-OAEP', label: bytes('label') }, pair.privateKey, ct));
  const jwk = await s.exportKey('jwk', pair.privateKey);
  check(results, {
    'pss signatures made by either tool verify': (r) => r[0] && r[1] && r[2],
    'pkcs1 signatures are the same bytes': (r) => r[3] && hex(mine) === BY_K6.pkcs1,
    'another salt length does not verify': (r) => r[4] === false,
    'oaep ciphertexts of either tool decrypt': () => decrypted.join() === 'encrypted by k6,encrypted by volley',
    'oaep round trip with a label': () => roundTrip === 'round trip' && ct.byteLength === 128,
    'rsa key pair fields': () => pair.privateKey.algorithm.modulusLength === 1024
      && pair.privateKey.algorithm.hash.name === 'SHA-1' && pair.publicKey.usages.join() === 'encrypt'
      && pair.privateKey.usages.join() === 'decrypt',
    'rsa jwk export': () => jwk.kty === 'RSA' && jwk.e === 'AQAB' && ['n', 'd', 'p', 'q', 'dp', 'dq', 'qi'].every((m) => typeof jwk[m] === 'string'),
  });
  const errors = [
    await errorName(s.sign({ name: 'RSA-PSS' }, pss, bytes('x'))),
    await errorName(s.decrypt({ name: 'RSA-OAEP' }, oaep, new Uint8Array(128))),
    await errorName(s.exportKey('raw', pssPublic)),
    await errorName(s.exportKey('pkcs8', pkcs1)),
    await errorName(s.importKey('raw', new Uint8Array(8), { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['encrypt'])),
    await errorName(s.generateKey({ name: 'RSA-PSS', modulusLength: 1024, hash: 'SHA-256' }, true, ['sign'])),
    await errorName(s.generateKey({ name: 'RSA-PSS', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['encrypt'])),
    await errorName(s.sign('RSA-PSS', pkcs1, bytes('x'))),
  ];
  check(null, {
    'rsa error names': () => errors.join() === 'SyntaxError,OperationError,NotSupportedError,InvalidAccessError,NotSupportedError,SyntaxError,SyntaxError,SyntaxError',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}

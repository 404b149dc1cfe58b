// Debian's nginx for the download scenarios, run as any user with everything under one folder
// (as test/delivery/x-accel.test.ts runs it): `/files/` serves a folder as static files (the ceiling the
// downloads are compared with), `/` proxies to the app started with
// DOWNLOAD_OFFLOAD=x-accel, and `/protected/` is the internal location its X-Accel-Redirect
// names (the README's configuration). sendfile is on, as in Debian's default nginx.conf.
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort, type Started, startProcess } from './lib.js'

export const NGINX = '/usr/sbin/nginx'
export const nginxInstalled = (): boolean => existsSync(NGINX)

export function nginxConfig (dir: string, port: number, staticDir: string, contentDir: string | undefined, appPort: number | undefined): string {
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  types { application/pdf pdf; image/png png; }
  server {
    listen 127.0.0.1:${port};
    location = /nginx-ready { return 200 'ok'; }
    location /files/ {
      alias ${staticDir}/;
    }
${appPort === undefined || contentDir === undefined
? ''
: `    location / {
      proxy_pass http://127.0.0.1:${appPort};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
    location /protected/ {
      internal;
      alias ${contentDir}/;
    }
`}  }
}
`
}

/** nginx on a free port serving `staticDir` (and in front of the app on `appPort` and its `contentDir`, if any). */
export async function startNginx (dir: string, staticDir: string, contentDir?: string, appPort?: number): Promise<Started & { url: string }> {
  await mkdir(dir, { recursive: true })
  const port = await freePort()
  await writeFile(join(dir, 'nginx.conf'), nginxConfig(dir, port, staticDir, contentDir, appPort))
  const url = `http://127.0.0.1:${port}`
  const started = await startProcess('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {}, `${url}/nginx-ready`, NGINX)
  return { ...started, url }
}
